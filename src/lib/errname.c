/* Names for the error codes of <pagoda/errno.h>. */
#include <pagoda/errno.h>

const char *err_name(int err)
{
    static const char *const names[] = {
        "ok", "out of memory", "invalid argument", "already exists", "not found",
        "misaligned", "out of range", "double free", "bad free", "corrupted",
        "capacity exceeded",
    };
    if (err < 0)
        err = -err;
    if ((unsigned)err < sizeof(names) / sizeof(names[0]))
        return names[err];
    return "unknown error";
}
