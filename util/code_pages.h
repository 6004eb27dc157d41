/* code_pages: give back this process's resident copies of a shared
 * library's code and read-only data, for a library used in short, rare
 * bursts (SQLite, which the history uses once a session, minutes apart).
 */
#ifndef MASSAGED_CODE_PAGES_H
#define MASSAGED_CODE_PAGES_H

#include <stddef.h>

/* Unmaps from this process the resident pages of every read-only segment
 * (code, constants, symbol tables: PT_LOAD without PF_W) of the loaded
 * object that holds the function symbol, with madvise(MADV_DONTNEED). They
 * are never written, so nothing is lost: the file's pages stay in the page
 * cache and the next call into the library maps back the ones it touches
 * (minor faults, no read from disk while the cache holds them). The
 * writable segments (data, relocations, RELRO) are left alone. Any thread
 * may call it, while other threads run the library's code. Returns the
 * bytes of address space advised (0 when no object holds symbol, or it is one whose code is
 * relocated in place: DT_TEXTREL). */
size_t code_pages_release(void (*symbol)(void));

#endif
