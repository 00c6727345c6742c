/*
 * core/blas_dnnl_workspace.c: oneDNN's sgemm workspace, allocated once per
 * thread and reused, so that a training step allocates nothing on oneDNN.
 *
 * dnnl_sgemm's gemm driver allocates its packing workspace (one
 * posix_memalign of ~0.5-1.3 MB and one free) on every call that packs,
 * and oneDNN 2.6 has no way to hand it a buffer: the sgemm API takes none,
 * the pack API (sgemm_pack/sgemm_compute) allocates more, and a matmul
 * primitive allocates its argument maps on every execute (measured: 6-7
 * allocations per call). So the workspace is supplied from here instead:
 * libdnnl's own two entries in its global offset table, posix_memalign and
 * free, are pointed at the functions below, in libdnnl only (no other
 * library's or the program's allocations are touched). While the calling
 * thread is inside gd_blas_sgemm, a request is served from that thread's
 * workspace, grown when a larger one is asked for (the first steps of a
 * run), and its free returns it; everything else (its OpenMP threads
 * under GRADUS_THREADING=blas, a second buffer in one call) goes to the
 * allocator as before. A buffer still held when the call returns (the
 * first call also allocates oneDNN's lasting set-up, its kernels) is
 * oneDNN's from then on: the thread takes a new one, and the old one is
 * freed by the allocator whenever oneDNN frees it. A thread's workspace is
 * freed when the thread ends.
 *
 * x86-64 ELF with glibc only (where oneDNN is built in); if libdnnl's table
 * cannot be found or changed, nothing is changed and oneDNN allocates as
 * it always did.
 */
#include "blas.h"

#if defined(GD_HAVE_ONEDNN) && defined(__x86_64__) && defined(__linux__)

#include <dlfcn.h>
#include <dnnl.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { WS_ALIGN = 4096, WS_GRAIN = 64 * 1024 };

typedef int (*memalign_fn)(void **, size_t, size_t);
typedef void (*free_fn)(void *);

/* What libdnnl's table held before: the process's allocator. */
static memalign_fn real_memalign;
static free_fn real_free;

typedef struct workspace {
    void *buf;
    size_t cap;
    bool busy;
} workspace;

static _Thread_local workspace ws;
static pthread_key_t ws_key;        /* a thread's buffer, freed when it ends */
static bool installed;

static void ws_release(void *buf)
{
    real_free(buf);
}

static int ws_memalign(void **p, size_t align, size_t size)
{
    if (!gd_blas_in_call() || ws.busy || align > WS_ALIGN || size == 0)
        return real_memalign(p, align, size);
    if (size > ws.cap) {
        size_t cap = (size + WS_GRAIN - 1) / WS_GRAIN * WS_GRAIN;
        void *b;
        int rc = real_memalign(&b, WS_ALIGN, cap);
        if (rc != 0)
            return rc;
        if (ws.buf)
            real_free(ws.buf);
        ws.buf = b;
        ws.cap = cap;
        pthread_setspecific(ws_key, b);
    }
    ws.busy = true;
    *p = ws.buf;
    return 0;
}

static void ws_free(void *p)
{
    if (p && p == ws.buf) {
        ws.busy = false;
        return;
    }
    real_free(p);
}

void gd_dnnl_workspace_end_call(void)
{
    if (!ws.busy)
        return;
    ws = (workspace){ 0 };   /* kept by oneDNN: from the allocator, freed there */
    pthread_setspecific(ws_key, NULL);
}

/* An address from the dynamic section: glibc has relocated most of them. */
static uintptr_t dyn_addr(const struct link_map *lm, ElfW(Addr) v)
{
    return v < lm->l_addr ? lm->l_addr + v : v;
}

typedef struct relro {
    const char *name;
    uintptr_t lo, hi;
} relro;

/* The read-only-after-relocation range of the object named r->name. */
static int find_relro(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    relro *r = arg;
    if (!info->dlpi_name || strcmp(info->dlpi_name, r->name) != 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO) {
            r->lo = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
            r->hi = r->lo + info->dlpi_phdr[i].p_memsz;
        }
    return 1;
}

/* libdnnl's table slot for symbol `name` (a call through its PLT or a GOT
 * load), or NULL. */
static void **find_slot(const struct link_map *lm, const char *name)
{
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    uintptr_t rel[2] = { 0 }, relsz[2] = { 0 };
    for (const ElfW(Dyn) *d = lm->l_ld; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: symtab = (const ElfW(Sym) *)dyn_addr(lm, d->d_un.d_ptr); break;
        case DT_STRTAB: strtab = (const char *)dyn_addr(lm, d->d_un.d_ptr); break;
        case DT_JMPREL: rel[0] = dyn_addr(lm, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: relsz[0] = d->d_un.d_val; break;
        case DT_RELA: rel[1] = dyn_addr(lm, d->d_un.d_ptr); break;
        case DT_RELASZ: relsz[1] = d->d_un.d_val; break;
        default: break;
        }
    }
    if (!symtab || !strtab)
        return NULL;
    for (int k = 0; k < 2; k++) {
        const ElfW(Rela) *r = (const ElfW(Rela) *)rel[k];
        for (size_t i = 0; r && i < relsz[k] / sizeof *r; i++) {
            unsigned long type = ELF64_R_TYPE(r[i].r_info);
            if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
                continue;
            if (strcmp(strtab + symtab[ELF64_R_SYM(r[i].r_info)].st_name, name) == 0)
                return (void **)(lm->l_addr + r[i].r_offset);
        }
    }
    return NULL;
}

/* Point a slot at fn, its page made writable for the moment when it is in
 * the read-only range. */
static bool repoint(void **slot, void *fn, const relro *ro)
{
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t at = (uintptr_t)slot, base = at & ~(uintptr_t)(page - 1);
    bool ro_page = at >= ro->lo && at < ro->hi;
    if (ro_page && mprotect((void *)base, (size_t)page, PROT_READ | PROT_WRITE) != 0)
        return false;
    __atomic_store_n(slot, fn, __ATOMIC_RELEASE);
    if (ro_page)
        mprotect((void *)base, (size_t)page, PROT_READ);
    return true;
}

static void install(void)
{
    Dl_info info;
    struct link_map *lm = NULL;
    if (!dladdr1((void *)dnnl_sgemm, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
        return;
    void **m = find_slot(lm, "posix_memalign"), **f = find_slot(lm, "free");
    relro ro = { lm->l_name, 0, 0 };
    dl_iterate_phdr(find_relro, &ro);
    /* Both must be bound already (Debian links libdnnl with BIND_NOW): a
     * lazy slot points back into libdnnl's PLT, whose resolver would later
     * overwrite the slot, so then nothing is changed. */
    Dl_info at_m, at_f;
    if (!m || !f || !dladdr(*m, &at_m) || !dladdr(*f, &at_f) ||
        at_m.dli_fbase == info.dli_fbase || at_f.dli_fbase == info.dli_fbase ||
        pthread_key_create(&ws_key, ws_release) != 0)
        return;
    real_free = (free_fn)*f;
    real_memalign = (memalign_fn)*m;
    /* free first: a buffer is only handed out once both are in place */
    installed = repoint(f, (void *)ws_free, &ro) && repoint(m, (void *)ws_memalign, &ro);
}

bool gd_dnnl_workspace_install(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install);
    return installed;
}

#else

bool gd_dnnl_workspace_install(void)
{
    return false;
}

void gd_dnnl_workspace_end_call(void)
{
}

#endif
