/*
 * The kernel command line: space-separated `key` and `key=value` words, as
 * GRUB passes what follows the kernel path on the multiboot2 line.
 */
#include <pagoda/kernel.h>
#include <pagoda/mb2.h>
#include <pagoda/string.h>

/* As much as the boot-info adapter keeps, so no word it passes is lost. */
#define CMDLINE_MAX MB2_CMDLINE_MAX
static char cmdline[CMDLINE_MAX];

void cmdline_set(const char *s) { kstrlcpy(cmdline, s ? s : "", sizeof(cmdline)); }

const char *cmdline_get(const char *key, char *buf, size_t size)
{
    size_t klen = strlen(key);
    const char *p = cmdline;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        size_t wlen = (size_t)(p - w);
        if (wlen >= klen && strncmp(w, key, klen) == 0 && (wlen == klen || w[klen] == '=')) {
            size_t vlen = wlen == klen ? 0 : wlen - klen - 1;
            if (size == 0)
                return "";
            if (vlen >= size)
                vlen = size - 1;
            memcpy(buf, w + klen + (wlen == klen ? 0 : 1), vlen);
            buf[vlen] = '\0';
            return buf;
        }
    }
    return NULL;
}
