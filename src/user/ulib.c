/* The user runtime (see ulib.h). */
#include "ulib.h"

__asm__(".section .text.start, \"ax\"\n"
        ".globl _start\n"
        "_start:\n"
        "    and $-16, %rsp\n"
        "    call main\n"
        "    mov %eax, %edi\n"
        "    mov $0, %eax\n"
        "    int $0x80\n"
        "    ud2\n"
        ".text\n");

long syscall5(long nr, long a0, long a1, long a2, long a3, long a4)
{
    register long r10 __asm__("r10") = a3;
    register long r8 __asm__("r8") = a4;
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8)
                     : "memory");
    return ret;
}

void *sbrk(long n)
{
    long cur = brk(0);
    if (cur < 0 || brk((void *)(cur + n)) < 0)
        return NULL;
    return (void *)cur;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

void *memset(void *d, int c, size_t n)
{
    unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

struct out {
    char buf[256];
    size_t n;
};

static void put(struct out *o, char c)
{
    if (o->n == sizeof(o->buf)) {
        write(1, o->buf, o->n);
        o->n = 0;
    }
    o->buf[o->n++] = c;
}

static void put_num(struct out *o, unsigned long v, unsigned base, int neg)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg)
        put(o, '-');
    while (i)
        put(o, tmp[--i]);
}

int printf(const char *fmt, ...)
{
    struct out o = {.n = 0};
    va_list ap;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put(&o, *fmt);
            continue;
        }
        int l = 0;
        fmt++;
        while (*fmt == 'l')
            l++, fmt++;
        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            for (s = s ? s : "(null)"; *s; s++)
                put(&o, *s);
            break;
        }
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case 'd': {
            long v = l ? va_arg(ap, long) : va_arg(ap, int);
            put_num(&o, v < 0 ? -(unsigned long)v : (unsigned long)v, 10, v < 0);
            break;
        }
        case 'u':
            put_num(&o, l ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10, 0);
            break;
        case 'x':
            put_num(&o, l ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16, 0);
            break;
        case 'p':
            put(&o, '0'), put(&o, 'x');
            put_num(&o, (unsigned long)va_arg(ap, void *), 16, 0);
            break;
        case '%':
            put(&o, '%');
            break;
        default:
            put(&o, '%');
            if (*fmt)
                put(&o, *fmt);
            else
                fmt--;
        }
    }
    va_end(ap);
    if (o.n)
        write(1, o.buf, o.n);
    return 0;
}
