/*
 * kvsnprintf: the formatter behind printk, portable and host-tested.
 *
 * Conversions: %s %c %d %i %u %x %X %p %o %%, length modifiers hh h l ll z
 * j t, flags '-' '0' ' ' '+' '#', width and precision (also as '*').
 * Output is truncated to `size` and always terminated; the return value is
 * the length the whole output would have had.
 */
#include <pagoda/printk.h>
#include <pagoda/types.h>

struct out {
    char *buf;
    size_t size;
    size_t len;
};

static void put(struct out *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

static void pad(struct out *o, char c, int n)
{
    while (n-- > 0)
        put(o, c);
}

struct spec {
    bool left, zero, plus, space, alt;
    int width, prec;
};

/* `sign`: a signed conversion, the only kind '+' and ' ' apply to. */
static void emit_number(struct out *o, unsigned long long v, bool neg, bool sign, unsigned base,
                        bool upper, const struct spec *s)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int n = 0;
    if (v == 0 && s->prec != 0)
        tmp[n++] = '0';
    while (v) {
        tmp[n++] = digits[v % base];
        v /= base;
    }
    int zeros = s->prec > n ? s->prec - n : 0;
    if (s->alt && base == 8 && zeros == 0 && (n == 0 || tmp[n - 1] != '0'))
        zeros = 1; /* '#' with %o: the first digit is a 0 */
    const char *prefix = "";
    if (neg)
        prefix = "-";
    else if (sign && s->plus)
        prefix = "+";
    else if (sign && s->space)
        prefix = " ";
    else if (s->alt && base == 16 && n > 0 && !(n == 1 && tmp[0] == '0'))
        prefix = upper ? "0X" : "0x";
    int plen = 0;
    while (prefix[plen])
        plen++;
    int total = plen + zeros + n;
    if (!s->left && s->zero && s->prec < 0 && s->width > total) {
        zeros += s->width - total;
        total = s->width;
    }
    if (!s->left)
        pad(o, ' ', s->width - total);
    for (int i = 0; i < plen; i++)
        put(o, prefix[i]);
    pad(o, '0', zeros);
    while (n)
        put(o, tmp[--n]);
    if (s->left)
        pad(o, ' ', s->width - total);
}

static void emit_string(struct out *o, const char *str, const struct spec *s)
{
    if (!str)
        str = "(null)";
    int n = 0;
    while (str[n] && (s->prec < 0 || n < s->prec))
        n++;
    if (!s->left)
        pad(o, ' ', s->width - n);
    for (int i = 0; i < n; i++)
        put(o, str[i]);
    if (s->left)
        pad(o, ' ', s->width - n);
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = {buf, size, 0};

    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            put(&o, *p);
            continue;
        }
        struct spec s = {.prec = -1};
        for (;; p++) {
            if (p[1] == '-')
                s.left = true;
            else if (p[1] == '0')
                s.zero = true;
            else if (p[1] == '+')
                s.plus = true;
            else if (p[1] == ' ')
                s.space = true;
            else if (p[1] == '#')
                s.alt = true;
            else
                break;
        }
        p++;
        if (*p == '*') {
            s.width = va_arg(ap, int);
            if (s.width < 0) {
                s.left = true;
                s.width = -s.width;
            }
            p++;
        } else {
            while (*p >= '0' && *p <= '9')
                s.width = s.width * 10 + (*p++ - '0');
        }
        if (*p == '.') {
            p++;
            s.prec = 0;
            if (*p == '*') {
                s.prec = va_arg(ap, int);
                p++;
            } else {
                while (*p >= '0' && *p <= '9')
                    s.prec = s.prec * 10 + (*p++ - '0');
            }
        }
        int lng = 0; /* -2 hh, -1 h, 0 int, 1 long, 2 long long, 3 size_t */
        for (;; p++) {
            if (*p == 'l')
                lng = lng == 1 ? 2 : 1;
            else if (*p == 'h')
                lng = lng == -1 ? -2 : -1;
            else if (*p == 'z' || *p == 'j' || *p == 't')
                lng = 3;
            else
                break;
        }
        unsigned long long u;
        long long sv;
        switch (*p) {
        case 'd':
        case 'i':
            if (lng >= 2)
                sv = lng == 3 ? (long long)va_arg(ap, long) : va_arg(ap, long long);
            else if (lng == 1)
                sv = va_arg(ap, long);
            else
                sv = va_arg(ap, int);
            if (lng == -1)
                sv = (short)sv;
            else if (lng == -2)
                sv = (signed char)sv;
            emit_number(&o, sv < 0 ? 0ULL - (unsigned long long)sv : (unsigned long long)sv,
                        sv < 0, true, 10, false, &s);
            break;
        case 'u':
        case 'x':
        case 'X':
        case 'o':
            if (lng >= 2)
                u = lng == 3 ? (unsigned long long)va_arg(ap, size_t)
                             : va_arg(ap, unsigned long long);
            else if (lng == 1)
                u = va_arg(ap, unsigned long);
            else
                u = va_arg(ap, unsigned int);
            if (lng == -1)
                u = (unsigned short)u;
            else if (lng == -2)
                u = (unsigned char)u;
            emit_number(&o, u, false, false, *p == 'o' ? 8 : *p == 'u' ? 10 : 16, *p == 'X', &s);
            break;
        case 'p':
            s.alt = true;
            emit_number(&o, (unsigned long long)(uintptr_t)va_arg(ap, void *), false, false, 16,
                        false, &s);
            break;
        case 'c':
            s.prec = -1;
            {
                char c[2] = {(char)va_arg(ap, int), 0};
                if (!s.left)
                    pad(&o, ' ', s.width - 1);
                put(&o, c[0]);
                if (s.left)
                    pad(&o, ' ', s.width - 1);
            }
            break;
        case 's':
            emit_string(&o, va_arg(ap, const char *), &s);
            break;
        case '%':
            put(&o, '%');
            break;
        case '\0':
            p--; /* a lone '%' at the end: print nothing more */
            break;
        default:
            put(&o, '%');
            put(&o, *p);
        }
    }
    if (size)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return (int)o.len;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}
