/*
 * cli/new.c: `gradus new KIND NAME`, a commented skeleton to start a plugin
 * from: NAME.c (a small working component of that kind, see
 * new_templates.h) and a two-line meson.build, in the current directory.
 * It never overwrites: an existing NAME.c is an error, an existing
 * meson.build is left as it is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "new_templates.h"

typedef struct kind_template {
    gd_kind kind;
    const char *text;
    const char *lua;     /* how Lua spells a spec of it */
} kind_template;

static const kind_template templates[] = {
    { GD_KIND_LAYER, new_layer, "gd.layer.%s{}" },
    { GD_KIND_LOSS, new_loss, "gd.loss.%s{}" },
    { GD_KIND_OPTIMIZER, new_optimizer, "gd.optim.%s{ lr = 0.01 }" },
    { GD_KIND_SCHEDULER, new_scheduler, "gd.sched.%s{}" },
    { GD_KIND_REGULARIZER, new_regularizer, "gd.reg.%s{ lambda = 1e-4 }" },
    { GD_KIND_INITIALIZER, new_initializer, "gd.init.%s{}" },
};

static int fail(const char *fmt, const char *a, const char *b)
{
    fputs("gradus: new: ", stderr);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return EXIT_FAILURE;
}

static int is_name(const char *s)
{
    if (!(*s >= 'a' && *s <= 'z'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* text with every @N@ replaced by name, written to a new file. */
static int write_new(const char *path, const char *text, const char *name)
{
    FILE *f = fopen(path, "wx");   /* x: fail rather than overwrite */
    if (!f)
        return 0;
    for (const char *p = text; *p;) {
        const char *at = strstr(p, "@N@");
        size_t len = at ? (size_t)(at - p) : strlen(p);
        fwrite(p, 1, len, f);
        if (!at)
            break;
        fputs(name, f);
        p = at + 3;
    }
    return fclose(f) == 0;
}

/* The headers only: a plugin links nothing of gradus. Optimized like the
 * built-ins (pkg-config's Cflags add their flags; release drops -g -O0). */
static const char meson_text[] =
    "project('@N@', 'c', default_options: ['buildtype=release'])\n"
    "shared_module('@N@', '@N@.c', name_prefix: '', "
    "dependencies: dependency('gradus').partial_dependency(compile_args: true))\n";

/* Drop --tensor from the arguments; 1 when it was there. */
static int take_tensor_flag(int *argc, char **argv)
{
    int found = 0, n = 0;
    for (int i = 0; i < *argc; i++) {
        if (strcmp(argv[i], "--tensor") == 0)
            found = 1;
        else
            argv[n++] = argv[i];
    }
    *argc = n;
    return found;
}

int gd_cli_new(int argc, char **argv)
{
    const int tensor = take_tensor_flag(&argc, argv);
    if (argc != 2 || argv[0][0] == '-' || argv[1][0] == '-')
        return fail("%s%susage: gradus new KIND NAME [--tensor] (kinds: layer, loss, optimizer, "
                    "scheduler, regularizer, initializer)", "", "");
    gd_kind kind = gd_kind_from_name(argv[0]);
    const char *name = argv[1];
    if (!kind)
        return fail("unknown kind '%s'%s (kinds: layer, loss, optimizer, scheduler, "
                    "regularizer, initializer)", argv[0], "");
    if (!is_name(name))
        return fail("name '%s' is not a lowercase identifier%s (a letter, then letters, digits "
                    "or '_')", name, "");
    const kind_template *t = &templates[0];
    while (t->kind != kind)
        t++;
    if (tensor && kind != GD_KIND_OPTIMIZER)
        return fail("--tensor is for optimizers only, not a %s%s", gd_kind_name(kind), "");
#if GD_ABI_MINOR >= 1
    const kind_template tensor_optimizer = { kind, new_tensor_optimizer, t->lua };
    if (tensor)
        t = &tensor_optimizer;
#else
    if (tensor)
        return fail("--tensor needs plugin ABI 1.1; this gradus has %s%s", "1.0", "");
#endif
    char path[300];
    snprintf(path, sizeof path, "%s.c", name);
    if (!write_new(path, t->text, name))
        return fail("cannot create %s: %s", path,
                    errno == EEXIST ? "it exists (gradus new never overwrites)" : strerror(errno));
    int meson = write_new("meson.build", meson_text, name);
    char lua[128];
    snprintf(lua, sizeof lua, t->lua, name);
    printf("wrote %s (%s%s '%s')%s\n", path, tensor ? "tensor-aware " : "", gd_kind_name(kind), name,
           meson ? " and meson.build" : "; meson.build exists, left as it is");
    printf("build: cc -shared -fPIC $(pkg-config --cflags gradus) %s -o %s.so\n", path, name);
    printf("       (or: meson setup build && meson compile -C build)\n");
    printf("check: gradus check ./%s.so\n", name);
    printf("use:   gradus -l ./%s.so doc %s; gradus -l ./%s.so run SCRIPT.lua with %s,\n", name,
           name, name, lua);
    printf("       or gd.plugins.load(\"./%s.so\") in the script; to load it always, copy it "
           "to ~/.local/lib/gradus/plugins/\n", name);
    return EXIT_SUCCESS;
}
