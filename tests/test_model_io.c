/*
 * tests/test_model_io.c: saving a model and loading it back
 * (gd_model_save / gd_model_load, format in core/model_io.c).
 *
 * A trained MLP (dense with he_normal and normal{...} inits, batchnorm,
 * relu, dropout) must come back bit for bit: parameters, batchnorm's
 * running statistics, predictions, and every option. Each bad file is made
 * by the test from a good one (cut short, a byte flipped, a field changed
 * and its section's CRC recomputed with tests/container.h) in a fresh
 * mkdtemp dir, removed at the end, and refused with a message naming the
 * file and what is wrong.
 *
 * The file is the container of core/binio.h (format version 2): a 32-byte
 * header, then the sections META (writer, plugin versions) and MODL (shape,
 * specs, parameters, buffers), each with its length and CRC.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "model_layer.h"   /* white-box: the layer's fields */
#include "checkpoint.h"
#include "container.h"
#include "files.h"
#include "support.h"
#include "train.h"

/* ---- fixture directory ---- */


/* Number of entries of the fixture dir (or of a dir below it). */
static int dir_entries(const char *d)
{
    DIR *h = opendir(d);
    if (!h)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(h)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(h);
    return n;
}

/* A section of a well-formed file, asserted present. */
static tc_section section(const unsigned char *b, size_t n, const char *tag)
{
    tc_section s;
    bool found = tc_find(b, n, tag, &s);
    if (!found)
        fprintf(stderr, "\n  no section %s\n", tag);
    CU_ASSERT_FATAL(found);
    return s;
}

/* META's time of writing: two saves of one model may differ there only. */
static void zero_meta_time(unsigned char *b, size_t n)
{
    tc_section m = section(b, n, "META");
    size_t at = 4 + (size_t)tc_get_le(b + m.off, 4) + 8;   /* str version, u32, u32 */
    CU_ASSERT_FATAL(at + 8 <= m.len);
    memset(b + m.off + at, 0, 8);
    tc_fix_section_crc(b, &m);
}

/* Two files hold the same model: equal bytes but for the time of writing. */
static bool same_file(unsigned char *a, size_t na, unsigned char *b, size_t nb)
{
    if (na != nb)
        return false;
    zero_meta_time(a, na);
    zero_meta_time(b, nb);
    return memcmp(a, b, na) == 0;
}

/* ---- the model ---- */

enum { NLAYERS = 6 };

typedef struct net {
    gd_spec *layers[NLAYERS];
    gd_model *model;
    gd_spec *loss, *opt;
    gd_dataset *ds;
    gd_trainer *tr;         /* the run that trained it, for a checkpoint */
} net;

/* 2 -> dense(16, he_normal) -> batchnorm -> relu -> dropout -> dense(3,
 * normal{mean, std}) -> ... with non-default options everywhere, trained a
 * few steps so parameters and running statistics are no longer initial. */
static void net_make(net *n)
{
    gd_spec *normal = test_spec(GD_KIND_INITIALIZER, "normal", "mean", 'n', 0.01, "std", 'n',
                                0.05, NULL);
    n->layers[0] = test_spec(GD_KIND_LAYER, "dense", "units", 'i', 16LL, "init", 's',
                             "he_normal", NULL);
    n->layers[1] = test_spec(GD_KIND_LAYER, "batchnorm", "eps", 'n', 1e-3, "momentum", 'n',
                             0.25, NULL);
    n->layers[2] = test_spec(GD_KIND_LAYER, "relu", NULL);
    n->layers[3] = test_spec(GD_KIND_LAYER, "dropout", "rate", 'n', 0.25, "scaling", 's', "test",
                             NULL);
    n->layers[4] = test_spec(GD_KIND_LAYER, "dense", "units", 'i', 8LL, "init", 'p', normal,
                             "bias", 'b', 0, NULL);
    n->layers[5] = test_spec(GD_KIND_LAYER, "dense", "units", 'i', 3LL, NULL);
    gd_spec_free(normal);
    gd_shape in = gd_shape_1(2);
    gd_error err;
    n->model = gd_model_new(test_registry(), (const gd_spec *const *)n->layers, NLAYERS, &in, 5,
                            &err);
    if (!n->model)
        fprintf(stderr, "\n  model: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n->model);

    n->ds = gd_synthetic_spirals(300, 3, 0.1, 3, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n->ds);
    n->loss = test_spec(GD_KIND_LOSS, "cross_entropy", NULL);
    n->opt = test_spec(GD_KIND_OPTIMIZER, "adam", "lr", 'n', 0.01, NULL);
    gd_train_config cfg = { .model = n->model, .loss = n->loss, .optimizer = n->opt,
                            .train = n->ds, .epochs = 2, .batch = 32, .seed = 5 };
    n->tr = gd_trainer_new(&cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(n->tr);
    while (!gd_trainer_finished(n->tr)) {
        gd_step_result r;
        CU_ASSERT_EQUAL_FATAL(gd_trainer_step(n->tr, &r, &err), GD_OK);
    }
}

static void net_free(net *n)
{
    gd_trainer_free(n->tr);
    gd_spec_free(n->loss);
    gd_spec_free(n->opt);
    gd_dataset_free(n->ds);
    gd_model_free(n->model);
    for (int i = 0; i < NLAYERS; i++)
        gd_spec_free(n->layers[i]);
}

/* Save a trained model to dir/name; the bytes come back in *n. */
static unsigned char *saved(const char *name, size_t *n)
{
    net m;
    net_make(&m);
    char p[512];
    gd_error err;
    gd_status st = gd_model_save(m.model, test_at(p, name), &err);
    if (st != GD_OK)
        fprintf(stderr, "\n  save: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, GD_OK);
    net_free(&m);
    return test_slurp(p, n);
}

/* Loading `path` through reg fails with a message holding `fragment` and
 * naming the file. */
static void expect_refused(const gd_registry *reg, const char *path, const char *fragment)
{
    gd_error err = { "" };
    gd_model *m = gd_model_load(reg, path, &err);
    CU_ASSERT_PTR_NULL(m);
    gd_model_free(m);
    if (!strstr(err.msg, fragment) || !strstr(err.msg, path) || strchr(err.msg, '\n')) {
        fprintf(stderr, "\n  message \"%s\" lacks \"%s\" or the file name\n", err.msg, fragment);
        CU_FAIL("wrong message");
    }
}

/* Write bytes to dir/name and expect loading them to fail with fragment. */
static void expect_bytes_refused(const char *name, const void *b, size_t n,
                                 const char *fragment)
{
    char p[512];
    test_spit(test_at(p, name), b, n);
    expect_refused(test_registry(), p, fragment);
    unlink(p);
}

static int opt_index(const gd_spec *s, const char *name)
{
    int i = gd_spec_option_index(s->component, name);
    CU_ASSERT_FATAL(i >= 0);
    return i;
}

/* ---- round trip ---- */

static void test_model_io_round_trip(void)
{
    net a;
    net_make(&a);
    char p[512], tmp[520];
    gd_error err;
    CU_ASSERT_EQUAL_FATAL(gd_model_save(a.model, test_at(p, "net.gdm"), &err), GD_OK);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    CU_ASSERT_EQUAL(access(tmp, F_OK), -1);   /* renamed, not left behind */
    gd_model *b = gd_model_load(test_registry(), p, &err);
    if (!b)
        fprintf(stderr, "\n  load: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);

    /* the container: the format-2 magic and version, META then MODL */
    size_t n;
    unsigned char *bytes = test_slurp(p, &n);
    static const unsigned char magic[8] = { 0x89, 'G', 'D', 'M', 0x0D, 0x0A, 0x1A, 0x0A };
    CU_ASSERT_FATAL(n > TC_HEADER);
    CU_ASSERT_EQUAL(memcmp(bytes, magic, 8), 0);
    CU_ASSERT_EQUAL(tc_get_le(bytes + 8, 4), 2);
    tc_section secs[TC_MAX_SECTIONS];
    CU_ASSERT_EQUAL_FATAL(tc_sections(bytes, n, secs, TC_MAX_SECTIONS), 2);
    CU_ASSERT_STRING_EQUAL(secs[0].tag, "META");
    CU_ASSERT_STRING_EQUAL(secs[1].tag, "MODL");
    free(bytes);

    /* shapes, parameters, buffers: bit for bit */
    CU_ASSERT_EQUAL(gd_model_layer_count(b), NLAYERS);
    CU_ASSERT_EQUAL(gd_model_input_shape(b)->ndim, 1);
    CU_ASSERT_EQUAL(gd_model_input_shape(b)->dim[0], 2);
    CU_ASSERT_EQUAL(gd_model_output_shape(b)->dim[0], 3);
    int64_t np = gd_model_param_count(a.model);
    CU_ASSERT_EQUAL_FATAL(gd_model_param_count(b), np);
    CU_ASSERT_EQUAL(memcmp(gd_model_params(a.model), gd_model_params(b), (size_t)np * 4), 0);
    int nbuf = 0;
    for (int i = 0; i < NLAYERS; i++) {
        gd_model_layer *la = gd_model_layer_at(a.model, i), *lb = gd_model_layer_at(b, i);
        CU_ASSERT_STRING_EQUAL(la->name, lb->name);
        CU_ASSERT_EQUAL_FATAL(la->nbuffers, lb->nbuffers);
        for (int k = 0; k < la->nbuffers; k++, nbuf++) {
            CU_ASSERT_EQUAL_FATAL(la->buffers[k].numel, lb->buffers[k].numel);
            CU_ASSERT_EQUAL(memcmp(la->buffers[k].value, lb->buffers[k].value,
                                   (size_t)la->buffers[k].numel * 4), 0);
        }
    }
    CU_ASSERT_EQUAL(nbuf, 2);
    /* running statistics were trained, so the comparison above meant something */
    gd_model_layer *bn = gd_model_layer_at(b, 1);
    CU_ASSERT(bn->buffers[0].value[0] != 0.0f && bn->buffers[1].value[0] != 1.0f);

    /* predictions in evaluation mode */
    enum { N = 64 };
    float x[N * 2];
    for (int k = 0; k < N * 2; k++)
        x[k] = (float)((k * 37 % 101) - 50) / 25.0f;
    const float *ya, *yb;
    CU_ASSERT_EQUAL_FATAL(gd_model_reserve(a.model, N, &err), GD_OK);
    CU_ASSERT_EQUAL_FATAL(gd_model_reserve(b, N, &err), GD_OK);
    CU_ASSERT_EQUAL_FATAL(gd_model_forward(a.model, x, N, false, &ya, &err), GD_OK);
    CU_ASSERT_EQUAL_FATAL(gd_model_forward(b, x, N, false, &yb, &err), GD_OK);
    CU_ASSERT_EQUAL(memcmp(ya, yb, N * 3 * sizeof(float)), 0);

    /* options, defaults and user-given, nested ones included */
    const gd_spec *s;
    s = gd_model_layer_at(b, 0)->spec;
    CU_ASSERT_EQUAL(gd_opt_int(s->options, opt_index(s, "units")), 16);
    CU_ASSERT_STRING_EQUAL(gd_opt_spec(s->options, opt_index(s, "init"))->component->name,
                           "he_normal");
    CU_ASSERT_EQUAL(gd_opt_bool(s->options, opt_index(s, "bias")), 1);
    s = gd_model_layer_at(b, 1)->spec;
    CU_ASSERT_EQUAL(gd_opt_num(s->options, opt_index(s, "eps")), 1e-3);
    CU_ASSERT_EQUAL(gd_opt_num(s->options, opt_index(s, "momentum")), 0.25);
    s = gd_model_layer_at(b, 3)->spec;
    CU_ASSERT_STRING_EQUAL(s->component->name, "dropout");
    CU_ASSERT_EQUAL(gd_opt_num(s->options, opt_index(s, "rate")), 0.25);
    CU_ASSERT_EQUAL(gd_opt_enum(s->options, opt_index(s, "scaling")), 1);   /* "test" */
    s = gd_model_layer_at(b, 4)->spec;
    CU_ASSERT_EQUAL(gd_opt_int(s->options, opt_index(s, "units")), 8);
    CU_ASSERT_EQUAL(gd_opt_bool(s->options, opt_index(s, "bias")), 0);
    const gd_spec *init = gd_opt_spec(s->options, opt_index(s, "init"));
    CU_ASSERT_STRING_EQUAL(init->component->name, "normal");
    CU_ASSERT_EQUAL(gd_opt_num(init->options, opt_index(init, "mean")), 0.01);
    CU_ASSERT_EQUAL(gd_opt_num(init->options, opt_index(init, "std")), 0.05);
    char da[512], db[512];
    for (int i = 0; i < NLAYERS; i++)
        CU_ASSERT_STRING_EQUAL(gd_spec_describe(gd_model_layer_at(a.model, i)->spec, da, 512),
                               gd_spec_describe(gd_model_layer_at(b, i)->spec, db, 512));

    /* saving the loaded model gives the same bytes (but for META's time) */
    char p2[512];
    CU_ASSERT_EQUAL(gd_model_save(b, test_at(p2, "again.gdm"), &err), GD_OK);
    size_t n1, n2;
    unsigned char *b1 = test_slurp(p, &n1), *b2 = test_slurp(p2, &n2);
    CU_ASSERT(same_file(b1, n1, b2, n2));
    free(b1);
    free(b2);
    unlink(p);
    unlink(p2);
    gd_model_free(b);
    net_free(&a);
}

/* A second save over the same path replaces the file whole. */
static void test_model_io_overwrite(void)
{
    size_t n;
    unsigned char *b = saved("over.gdm", &n);
    char p[512];
    test_spit(test_at(p, "over.gdm"), "old contents", 12);
    net m;
    net_make(&m);
    gd_error err;
    CU_ASSERT_EQUAL(gd_model_save(m.model, p, &err), GD_OK);
    size_t n2;
    unsigned char *b2 = test_slurp(p, &n2);
    CU_ASSERT(same_file(b, n, b2, n2));
    free(b);
    free(b2);
    net_free(&m);
    unlink(p);
}

/* gd_model_load also takes the model out of a checkpoint (same META and
 * MODL sections), bit for bit. */
static void test_model_io_from_checkpoint(void)
{
    net a;
    net_make(&a);
    char p[512];
    gd_error err;
    gd_run_settings run = { .name = "model-io" };
    gd_run_progress prog = { .best = INFINITY };
    gd_status st = gd_checkpoint_save(test_at(p, "run.gdc"), a.tr, &run, &prog, "final", &err);
    if (st != GD_OK)
        fprintf(stderr, "\n  checkpoint: %s\n", err.msg);
    CU_ASSERT_EQUAL_FATAL(st, GD_OK);
    gd_model *b = gd_model_load(test_registry(), p, &err);
    if (!b)
        fprintf(stderr, "\n  load: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    int64_t ns = gd_model_state_size(a.model);
    CU_ASSERT_EQUAL_FATAL(gd_model_state_size(b), ns);
    float *sa = malloc((size_t)ns * sizeof *sa), *sb = malloc((size_t)ns * sizeof *sb);
    gd_model_copy_state(a.model, sa, true);
    gd_model_copy_state(b, sb, true);
    CU_ASSERT_EQUAL(memcmp(sa, sb, (size_t)ns * sizeof *sa), 0);
    free(sa);
    free(sb);
    char da[512], db[512];
    for (int i = 0; i < NLAYERS; i++)
        CU_ASSERT_STRING_EQUAL(gd_spec_describe(gd_model_layer_at(a.model, i)->spec, da, 512),
                               gd_spec_describe(gd_model_layer_at(b, i)->spec, db, 512));
    gd_model_free(b);

    /* the model needs its layers' plugins only, not the run's optimizer */
    gd_registry *no_adam = test_registry_without(GD_KIND_OPTIMIZER, "adam");
    b = gd_model_load(no_adam, p, &err);
    if (!b)
        fprintf(stderr, "\n  load without adam: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL(b);
    gd_model_free(b);
    gd_registry_free(no_adam);

    /* a broken checkpoint is refused as a checkpoint */
    size_t n;
    unsigned char *bytes = test_slurp(p, &n);
    tc_section modl = section(bytes, n, "MODL");
    bytes[modl.off + modl.len / 2] ^= 0x40;
    expect_bytes_refused("run.gdc", bytes, n, "corrupt section MODL (CRC mismatch)");
    free(bytes);
    net_free(&a);
}

/* ---- refused files ---- */

static void test_model_io_not_a_model(void)
{
    const char text[] = "-- a Lua script, not a model\nreturn 1\n";
    expect_bytes_refused("text.gdm", text, sizeof text - 1, "not a gradus model (bad magic)");
    expect_bytes_refused("empty.gdm", "", 0, "empty file, not a gradus model");
    char p[512];
    expect_refused(test_registry(), test_at(p, "missing.gdm"), "cannot open: No such file");
    expect_refused(test_registry(), test_dir, "not a regular file");
    /* the magic of format 1 (the single-payload "GDM1" files) is not ours */
    static const unsigned char old[16] = { 'G', 'D', 'M', '1', 1, 0, 0, 0 };
    expect_bytes_refused("old.gdm", old, sizeof old, "not a gradus model (bad magic)");
}

static void test_model_io_unsupported_version(void)
{
    size_t n;
    unsigned char *b = saved("v.gdm", &n);
    tc_put_le(b + 8, 4, 4);
    tc_fix_header_crc(b);
    expect_bytes_refused("v.gdm", b, n, "unsupported format version 4 (this gradus reads "
                         "versions 2 to 3)");
    tc_put_le(b + 8, 1, 4);
    tc_fix_header_crc(b);
    expect_bytes_refused("v.gdm", b, n, "unsupported format version 1 (this gradus reads "
                         "versions 2 to 3)");
    /* version 3 has the structure after the specs: a version 2 body is refused */
    tc_put_le(b + 8, 3, 4);
    tc_fix_header_crc(b);
    expect_bytes_refused("v.gdm", b, n, "malformed section MODL");
    /* the version is read before anything else, even from a short file */
    tc_put_le(b + 8, 4, 4);
    expect_bytes_refused("v.gdm", b, 14, "unsupported format version 4");
    free(b);
}

/* Every cut of a good file is refused as truncated, naming where: in the
 * header, before a section's tag and length are complete (the section is
 * missing), or inside a section. */
static void test_model_io_truncated(void)
{
    size_t n;
    unsigned char *b = saved("t.gdm", &n);
    tc_section s[TC_MAX_SECTIONS];
    int ns = tc_sections(b, n, s, TC_MAX_SECTIONS);
    CU_ASSERT_EQUAL_FATAL(ns, 2);
    char want[128];
    unsigned before = CU_get_number_of_failures();
    for (size_t cut = 1; cut < n; cut++) {
        if (cut < TC_HEADER) {
            snprintf(want, sizeof want, "truncated (%zu bytes, shorter than the 32-byte header)",
                     cut);
        } else {
            int i = ns - 1;
            while (s[i].head > cut)
                i--;
            if (cut < s[i].off)
                snprintf(want, sizeof want, "truncated after %s (%zu bytes; section %d of 2 is "
                         "missing)", i ? s[i - 1].tag : "the header", cut, i + 1);
            else
                snprintf(want, sizeof want, "truncated in section %s (%zu bytes", s[i].tag, cut);
        }
        expect_bytes_refused("t.gdm", b, cut, want);
        if (CU_get_number_of_failures() > before)
            break;   /* one message is enough to see what went wrong */
    }
    free(b);
}

static void test_model_io_corrupt(void)
{
    size_t n;
    unsigned char *b = saved("c.gdm", &n);
    /* a flipped bit in the header: a count, the reserved word, its CRC */
    const size_t head[] = { 16, 20, 24, 28, 31 };
    for (size_t k = 0; k < sizeof head / sizeof *head; k++) {
        b[head[k]] ^= 0x10;
        expect_bytes_refused("c.gdm", b, n, "corrupt header (CRC mismatch)");
        b[head[k]] ^= 0x10;
    }
    /* in each section: the first and last payload byte, one in the middle,
     * the stored CRC's first and last byte */
    const char *tags[] = { "META", "MODL" };
    for (int t = 0; t < 2; t++) {
        tc_section s = section(b, n, tags[t]);
        const size_t offs[] = { s.off, s.off + s.len / 2, s.off + s.len - 1, s.off + s.len,
                                s.off + s.len + 3 };
        char want[64];
        snprintf(want, sizeof want, "corrupt section %s (CRC mismatch)", tags[t]);
        for (size_t k = 0; k < sizeof offs / sizeof *offs; k++) {
            b[offs[k]] ^= 0x10;
            expect_bytes_refused("c.gdm", b, n, want);
            b[offs[k]] ^= 0x01;   /* the other bit too: not only 0x10 is caught */
            expect_bytes_refused("c.gdm", b, n, want);
            b[offs[k]] ^= 0x11;
        }
        /* a length one less: the CRC is read from the wrong place */
        tc_put_le(b + s.head + 4, s.len - 1, 8);
        expect_bytes_refused("c.gdm", b, n, want);
        tc_put_le(b + s.head + 4, s.len, 8);
        /* a length far too large */
        b[s.head + 10] ^= 0x10;
        snprintf(want, sizeof want, "truncated in section %s", tags[t]);
        expect_bytes_refused("c.gdm", b, n, want);
        b[s.head + 10] ^= 0x10;
    }
    /* a tag that is not one */
    b[TC_HEADER] ^= 0x10;
    expect_bytes_refused("c.gdm", b, n, "corrupt: section 1 after the header has no valid tag");
    b[TC_HEADER] ^= 0x10;
    /* bytes appended after the last section */
    unsigned char *longer = malloc(n + 3);
    memcpy(longer, b, n);
    memcpy(longer + n, "xyz", 3);
    expect_bytes_refused("c.gdm", longer, n + 3, "corrupt (3 unexpected bytes after the last "
                         "section)");
    free(longer);
    /* and the untouched bytes still load */
    char p[512];
    test_spit(test_at(p, "c.gdm"), b, n);
    gd_error err;
    gd_model *m = gd_model_load(test_registry(), p, &err);
    CU_ASSERT_PTR_NOT_NULL(m);
    gd_model_free(m);
    unlink(p);
    free(b);
}

static void test_model_io_component_not_loaded(void)
{
    size_t n;
    unsigned char *b = saved("plugins.gdm", &n);
    char p[512];
    test_at(p, "plugins.gdm");
    /* META names every component with its plugin, nested ones included */
    gd_registry *reg = test_registry_without(GD_KIND_LAYER, "batchnorm");
    expect_refused(reg, p, "needs layer 'batchnorm' (plugin batchnorm 1.0, batchnorm.so), which "
                   "no loaded plugin provides");
    gd_registry_free(reg);
    reg = test_registry_without(GD_KIND_INITIALIZER, "he_normal");
    expect_refused(reg, p, "needs initializer 'he_normal' (plugin he_normal 1.0, he_normal.so), "
                   "which no loaded plugin provides");
    gd_registry_free(reg);

    /* a META that does not name a component MODL uses (crafted, CRC fixed):
     * the spec decoder still refuses it, naming the layer */
    net m;
    net_make(&m);
    const gd_spec *specs[NLAYERS];
    int ns = 0;
    for (int i = 0; i < NLAYERS; i++)
        if (i != 1)
            specs[ns++] = m.layers[i];
    gd_buf meta = { 0 };
    gd_put_meta(&meta, test_registry(), specs, ns, "model");
    CU_ASSERT_FATAL(!meta.oom);
    CU_ASSERT_FATAL(tc_replace_payload(&b, &n, "META", meta.p, meta.n));
    gd_buf_free(&meta);
    net_free(&m);
    test_spit(p, b, n);
    gd_error err;
    gd_model *ok = gd_model_load(test_registry(), p, &err);   /* still good with batchnorm */
    CU_ASSERT_PTR_NOT_NULL(ok);
    gd_model_free(ok);
    reg = test_registry_without(GD_KIND_LAYER, "batchnorm");
    expect_refused(reg, p, "layer 2 needs layer 'batchnorm', which no loaded plugin provides");
    gd_registry_free(reg);
    unlink(p);
    free(b);
}

/* The plugin that wrote a component is not the loaded one: refused, naming
 * both versions. The version in META is patched (same length, then longer,
 * CRC fixed each time). */
static void test_model_io_plugin_version_mismatch(void)
{
    size_t n;
    unsigned char *b = saved("version.gdm", &n);
    /* dense's entry: u8 kind, str "dense" (component), str "dense" (plugin), str "1.0" */
    static const unsigned char entry[] = { GD_KIND_LAYER, 5, 0, 0, 0, 'd', 'e', 'n', 's', 'e',
                                           5, 0, 0, 0, 'd', 'e', 'n', 's', 'e',
                                           3, 0, 0, 0, '1', '.', '0' };
    long at_entry = tc_find_in(b, n, "META", entry, sizeof entry, 0);
    CU_ASSERT_FATAL(at_entry >= 0);
    size_t ver = (size_t)at_entry + sizeof entry - 3;
    CU_ASSERT_FATAL(tc_patch(b, n, "META", ver, "0.9", 3));
    expect_bytes_refused("version.gdm", b, n, "layer 'dense' was written by plugin dense 0.9; "
                         "the loaded one (dense.so) is version 1.0");
    static const unsigned char longer[] = { 10, 0, 0, 0, '2', '.', '0', '.', '1', '-', 'd', 'e',
                                            'v', '1' };
    CU_ASSERT_FATAL(tc_splice(&b, &n, "META", ver - 4, 7, longer, sizeof longer));
    expect_bytes_refused("version.gdm", b, n, "layer 'dense' was written by plugin dense "
                         "2.0.1-dev1; the loaded one (dense.so) is version 1.0");
    /* and back to 1.0: loads again */
    static const unsigned char same[] = { 3, 0, 0, 0, '1', '.', '0' };
    CU_ASSERT_FATAL(tc_splice(&b, &n, "META", ver - 4, sizeof longer, same, sizeof same));
    char p[512];
    test_spit(test_at(p, "version.gdm"), b, n);
    gd_error err;
    gd_model *m = gd_model_load(test_registry(), p, &err);
    if (!m)
        fprintf(stderr, "\n  load: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL(m);
    gd_model_free(m);
    unlink(p);
    free(b);
}

/* Options that no longer fit the weights: dense1's units changed from 16 to
 * 12 in MODL (CRC recomputed), so its weight holds 32 values where the
 * model built from the options has 24. */
static void test_model_io_param_count_mismatch(void)
{
    size_t n;
    unsigned char *b = saved("count.gdm", &n);
    long u = tc_find_in(b, n, "MODL", "units", 5, 0);
    CU_ASSERT_FATAL(u >= 0);
    tc_section modl = section(b, n, "MODL");
    unsigned char *v = b + modl.off + u + 5;
    CU_ASSERT_EQUAL_FATAL(v[0], GD_OPT_INTEGER);
    CU_ASSERT_EQUAL_FATAL(tc_get_le(v + 1, 8), 16);
    unsigned char le[8];
    tc_put_le(le, 12, 8);
    CU_ASSERT_FATAL(tc_patch(b, n, "MODL", (size_t)u + 6, le, 8));
    expect_bytes_refused("count.gdm", b, n, "layer 1 (dense1): parameter 'weight' has 32 "
                         "values in the file, the model has 24");
    /* an option value the plugin refuses is reported as the spec would be */
    tc_put_le(le, 0, 8);
    CU_ASSERT_FATAL(tc_patch(b, n, "MODL", (size_t)u + 6, le, 8));
    expect_bytes_refused("count.gdm", b, n, "layer 1: dense: option 'units' must be >= 1, got 0");
    /* options asking for more values than the file holds are refused before
     * the model's arenas are allocated (2^31 - 1 units: 16 GB of weights) */
    tc_put_le(le, 0x7fffffff, 8);
    CU_ASSERT_FATAL(tc_patch(b, n, "MODL", (size_t)u + 6, le, 8));
    expect_bytes_refused("count.gdm", b, n, "malformed section MODL: layer 1 (dense) has more "
                         "values than the section holds");
    tc_put_le(le, 17, 8);   /* one unit more: 2 values more, the file holds fewer */
    CU_ASSERT_FATAL(tc_patch(b, n, "MODL", (size_t)u + 6, le, 8));
    expect_bytes_refused("count.gdm", b, n, "layer 1 (dense1): parameter 'weight' has 32 "
                         "values in the file, the model has 34");
    free(b);
}

/* A file written before dropout had its 'scaling' option (the option cut
 * out of MODL, the count, length and CRC fixed by the container helper)
 * still loads: options go by name, and the missing one takes its default. */
static void test_model_io_option_added_later(void)
{
    size_t n;
    unsigned char *b = saved("older.gdm", &n);
    long d = tc_find_in(b, n, "MODL", "dropout", 7, 0);
    long sc = tc_find_in(b, n, "MODL", "scaling", 7, 0);
    CU_ASSERT_FATAL(d >= 0 && sc > d);
    tc_section modl = section(b, n, "MODL");
    CU_ASSERT_EQUAL_FATAL(tc_get_le(b + modl.off + d + 7, 4), 2);   /* dropout's option count */
    unsigned char one[4];
    tc_put_le(one, 1, 4);
    CU_ASSERT_FATAL(tc_patch(b, n, "MODL", (size_t)d + 7, one, 4));
    size_t from = (size_t)sc - 4;                  /* u32 7, "scaling", type, u32 4, "test" */
    size_t cut = 4 + 7 + 1 + 4 + 4;
    CU_ASSERT_FATAL(memcmp(b + modl.off + from + cut - 4, "test", 4) == 0);
    CU_ASSERT_FATAL(tc_splice(&b, &n, "MODL", from, cut, NULL, 0));
    char p[512];
    test_spit(test_at(p, "older.gdm"), b, n);
    gd_error err;
    gd_model *m = gd_model_load(test_registry(), p, &err);
    if (!m)
        fprintf(stderr, "\n  load: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    const gd_spec *s = gd_model_layer_at(m, 3)->spec;
    CU_ASSERT_EQUAL(gd_opt_num(s->options, opt_index(s, "rate")), 0.25);
    CU_ASSERT_EQUAL(gd_opt_enum(s->options, opt_index(s, "scaling")), 0);   /* "inverted" */
    gd_model_free(m);
    unlink(p);
    free(b);
}

/* Class labels and the loss are saved at the end of MODL and come back; a
 * file written before them (MODL ending after the buffers) still loads,
 * with neither; a label count that is not the output width is refused. */
static void test_model_io_labels_and_loss(void)
{
    net a;
    net_make(&a);
    const double labels[3] = { 7, 3, -1 };
    gd_error err;
    CU_ASSERT_EQUAL(gd_model_set_labels(a.model, labels, 2, &err), GD_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.msg, "model: 2 class labels for 3 outputs");
    CU_ASSERT_EQUAL_FATAL(gd_model_set_labels(a.model, labels, 3, &err), GD_OK);
    CU_ASSERT_EQUAL_FATAL(gd_model_set_loss(a.model, a.loss, &err), GD_OK);
    char p[512];
    CU_ASSERT_EQUAL_FATAL(gd_model_save(a.model, test_at(p, "labels.gdm"), &err), GD_OK);
    net_free(&a);
    gd_model *m = gd_model_load(test_registry(), p, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    const double *got = gd_model_labels(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT(got[0] == 7 && got[1] == 3 && got[2] == -1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(gd_model_loss(m));
    CU_ASSERT_STRING_EQUAL(gd_model_loss(m)->component->name, "cross_entropy");
    gd_model_free(m);

    size_t n;
    unsigned char *b = test_slurp(p, &n);
    tc_section modl = section(b, n, "MODL");
    /* tail: u32 3, 3 x f64, u8 1, spec (u8 kind, str "cross_entropy", u32 0 options) */
    size_t cnt = modl.len - (1 + 4 + 13 + 4) - 1 - 3 * 8 - 4;
    CU_ASSERT_EQUAL_FATAL(tc_get_le(b + modl.off + cnt, 4), 3);
    unsigned char two[4];
    tc_put_le(two, 2, 4);
    CU_ASSERT_FATAL(tc_patch(b, n, "MODL", cnt, two, 4));
    expect_bytes_refused("labels2.gdm", b, n, "malformed section MODL: 2 class labels for 3 "
                         "outputs");
    free(b);

    b = saved("older.gdm", &n);      /* no labels, no loss: the tail is u32 0, u8 0 */
    modl = section(b, n, "MODL");
    CU_ASSERT_FATAL(memcmp(b + modl.off + modl.len - 5, "\0\0\0\0\0", 5) == 0);
    CU_ASSERT_FATAL(tc_splice(&b, &n, "MODL", modl.len - 5, 5, NULL, 0));
    test_spit(test_at(p, "older.gdm"), b, n);
    m = gd_model_load(test_registry(), p, &err);
    if (!m)
        fprintf(stderr, "\n  load: %s\n", err.msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_PTR_NULL(gd_model_labels(m));
    CU_ASSERT_PTR_NULL(gd_model_loss(m));
    gd_model_free(m);
    unlink(p);
    unlink(test_at(p, "labels.gdm"));
    free(b);
}

/* ---- unwritable destinations leave nothing ---- */

static void test_model_io_unwritable(void)
{
    net m;
    net_make(&m);
    char p[512], file[512];
    gd_error err = { "" };

    /* a missing directory */
    CU_ASSERT_EQUAL(gd_model_save(m.model, test_at(p, "nodir/m.gdm"), &err), GD_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, p));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "No such file or directory"));
    CU_ASSERT_EQUAL(dir_entries(test_dir), 0);

    /* below a regular file */
    test_spit(test_at(file, "plain"), "data", 4);
    test_at(p, "plain/m.gdm");
    CU_ASSERT_EQUAL(gd_model_save(m.model, p, &err), GD_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot create"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "Not a directory"));
    CU_ASSERT_EQUAL(dir_entries(test_dir), 1);
    size_t n;
    unsigned char *b = test_slurp(file, &n);
    CU_ASSERT(n == 4 && memcmp(b, "data", 4) == 0);
    free(b);
    unlink(file);

    /* onto a directory: refused before any temporary file */
    test_at(p, "sub");
    CU_ASSERT_EQUAL_FATAL(mkdir(p, 0700), 0);
    CU_ASSERT_EQUAL(gd_model_save(m.model, p, &err), GD_EIO);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "is a directory, not a regular file"));
    CU_ASSERT_EQUAL(dir_entries(test_dir), 1);
    CU_ASSERT_EQUAL(dir_entries(p), 0);
    rmdir(p);
    net_free(&m);
}

/* ---- blocks: the structure in MODL (format version 3) ---- */

/* dense 3, residual{ dense 3, tanh }, residual{ dense 2, shortcut = dense 2 } */
static gd_model *blocks_model(void)
{
    gd_spec *s[] = {
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', 3LL, NULL),
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', 3LL, NULL),
        test_spec(GD_KIND_LAYER, "tanh", NULL),
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', 2LL, NULL),
        test_spec(GD_KIND_LAYER, "dense", "units", 'i', 2LL, NULL),
    };
    const gd_node_desc tree[] = {
        { GD_NODE_SEQUENTIAL, 3, NULL }, { GD_NODE_LAYER, 0, s[0] },
        { GD_NODE_RESIDUAL, 1, NULL }, { GD_NODE_SEQUENTIAL, 2, NULL },
        { GD_NODE_LAYER, 0, s[1] }, { GD_NODE_LAYER, 0, s[2] },
        { GD_NODE_RESIDUAL, 2, NULL }, { GD_NODE_SEQUENTIAL, 1, NULL },
        { GD_NODE_LAYER, 0, s[3] }, { GD_NODE_LAYER, 0, s[4] },
    };
    gd_shape in = gd_shape_1(4);
    gd_error err;
    gd_model *m = gd_model_new_tree(test_registry(), tree, 10, &in, 7, &err);
    for (int i = 0; i < 5; i++)
        gd_spec_free(s[i]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    return m;
}

static void test_model_io_blocks(void)
{
    gd_model *a = blocks_model();
    char p[512];
    gd_error err;
    CU_ASSERT_EQUAL_FATAL(gd_model_save(a, test_at(p, "tree.gdm"), &err), GD_OK);
    gd_model *b = gd_model_load(test_registry(), p, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT(gd_model_same_structure(a, b));
    static const char *const names[] = { "dense1", "res1.dense1", "res1.tanh1", "res2.dense1",
                                         "res2.shortcut" };
    for (int i = 0; i < 5; i++)
        CU_ASSERT_STRING_EQUAL(gd_model_layer_name(gd_model_layer_at(b, i)), names[i]);
    CU_ASSERT_EQUAL(memcmp(gd_model_params(a), gd_model_params(b),
                           (size_t)gd_model_param_count(a) * sizeof(float)), 0);
    gd_model_free(b);
    gd_model_free(a);
    size_t n;
    unsigned char *f = test_slurp(p, &n);
    CU_ASSERT_EQUAL(tc_get_le(f + 8, 4), 3);   /* format version 3: it has blocks */
    /* the tree: u32 10 nodes, then the root: u8 kind 2 (sequential), u32 3 parts */
    static const unsigned char root[9] = { 10, 0, 0, 0, 2, 3, 0, 0, 0 };
    long t = tc_find_in(f, n, "MODL", root, sizeof root, 0);
    CU_ASSERT_FATAL(t >= 0);
    unsigned char v[4] = { 7, 0, 0, 0 };
    CU_ASSERT_FATAL(tc_patch(f, n, "MODL", (size_t)t + 4, v, 1));
    expect_bytes_refused("tree.gdm", f, n, "malformed section MODL: node 1 (kind 7, 3 parts)");
    v[0] = 2;
    CU_ASSERT_FATAL(tc_patch(f, n, "MODL", (size_t)t + 4, v, 1));
    v[0] = 5;   /* a root of 5 parts: the structure ends inside it */
    CU_ASSERT_FATAL(tc_patch(f, n, "MODL", (size_t)t + 5, v, 4));
    expect_bytes_refused("tree.gdm", f, n, "model: the structure ends inside a block");
    v[0] = 3;
    CU_ASSERT_FATAL(tc_patch(f, n, "MODL", (size_t)t + 5, v, 4));
    /* node 3 (res1) with 3 parts */
    CU_ASSERT_FATAL(tc_patch(f, n, "MODL", (size_t)t + 4 + 2 * 5 + 1, v, 4));
    expect_bytes_refused("tree.gdm", f, n, "a residual block has a body and at most one "
                         "shortcut, got 3 parts");
    /* version 2 has no tree: the same bytes marked 2 are refused, not misread */
    v[0] = 1;
    CU_ASSERT_FATAL(tc_patch(f, n, "MODL", (size_t)t + 4 + 2 * 5 + 1, v, 4));
    tc_put_le(f + 8, 2, 4);
    tc_fix_header_crc(f);
    expect_bytes_refused("tree.gdm", f, n, "layer 1 (dense1) has 10 parameter tensors in the "
                         "file, the model has 2");
    free(f);
    unlink(p);
}

int main(void)
{
    if (!test_dir_open("model-io"))
        return 1;
    static const test_case cases[] = {
        TEST(test_model_io_round_trip),
        TEST(test_model_io_overwrite),
        TEST(test_model_io_from_checkpoint),
        TEST(test_model_io_not_a_model),
        TEST(test_model_io_unsupported_version),
        TEST(test_model_io_truncated),
        TEST(test_model_io_corrupt),
        TEST(test_model_io_component_not_loaded),
        TEST(test_model_io_plugin_version_mismatch),
        TEST(test_model_io_param_count_mismatch),
        TEST(test_model_io_option_added_later),
        TEST(test_model_io_labels_and_loss),
        TEST(test_model_io_unwritable),
        TEST(test_model_io_blocks),
        TEST_END,
    };
    int rc = test_main("model_io", cases);
    return test_dir_close() ? rc : 1;
}
