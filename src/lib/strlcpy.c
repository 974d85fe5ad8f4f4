/* kstrlcpy: bounded copy that always terminates (see <pagoda/string.h>). */
#include <pagoda/string.h>

size_t kstrlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (size) {
        size_t c = n < size - 1 ? n : size - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}
