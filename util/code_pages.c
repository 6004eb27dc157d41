#include "code_pages.h"

#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

struct search {
    uintptr_t symbol;
    size_t advised;
};

static bool holds(const struct dl_phdr_info *info, uintptr_t address)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && address >= start && address - start < ph->p_memsz)
            return true;
    }
    return false;
}

/* Whether the loader writes into the object's read-only segments. */
static bool text_relocated(const struct dl_phdr_info *info)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC)
            continue;
        const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        for (; d->d_tag != DT_NULL; d++)
            if (d->d_tag == DT_TEXTREL || (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL)))
                return true;
    }
    return false;
}

/* Narrows [*first, *end) to leave out every page that a writable segment
 * of the object touches (none does in a linker's usual layout; a page may
 * hold only one mapping's protection, and its written bytes must stay). */
static void leave_out_written(const struct dl_phdr_info *info, uintptr_t page, uintptr_t *first,
                              uintptr_t *end)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        uintptr_t w_first = start & ~(page - 1);
        uintptr_t w_end = (start + ph->p_memsz + page - 1) & ~(page - 1);
        if (w_first >= *end || w_end <= *first)
            continue;
        if (w_first > *first)
            *end = w_first; /* the writable pages follow ours */
        else
            *first = w_end; /* they come first: keep what is after them */
        if (*end < *first)
            *end = *first;
    }
}

static int release_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct search *s = arg;
    if (!holds(info, s->symbol))
        return 0;
    if (text_relocated(info))
        return 1;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
            continue;
        /* The segment's pages, its last one whole (mapped with the
         * segment's protection even where its bytes end short of it). */
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        uintptr_t first = start & ~(page - 1);
        uintptr_t end = (start + ph->p_memsz + page - 1) & ~(page - 1);
        leave_out_written(info, page, &first, &end);
        if (end > first && madvise((void *)first, end - first, MADV_DONTNEED) == 0)
            s->advised += end - first;
    }
    return 1;
}

size_t code_pages_release(void (*symbol)(void))
{
    struct search s = {.symbol = (uintptr_t)symbol};
    dl_iterate_phdr(release_object, &s);
    return s.advised;
}
