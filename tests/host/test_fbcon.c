/*
 * Host tests of the framebuffer console's drawing core (src/lib/fbcon.c):
 * text drawn into memory buffers of several pixel layouts (32 and 24 bpp
 * with either channel order, 16 bpp 5:6:5, pitches with padding), wrapping,
 * scrolling with and without a shadow, backspace over a wrap, the cursor,
 * and the layouts it must refuse. Every cell is checked pixel by pixel
 * against the font.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include <pagoda/errno.h>
#include <pagoda/fbcon.h>

/* A 10x6 test font, two bytes per row (so bits past the width exist and
 * must be ignored): each glyph a different pattern, derived from its code. */
#define FW 10
#define FH 6
static uint8_t glyph_bits[256 * FH * 2];
static const struct fbcon_font font = {FW, FH, 2, glyph_bits, "test"};

static void make_font(void)
{
    for (int c = 0; c < 256; c++)
        for (int y = 0; y < FH; y++) {
            glyph_bits[(c * FH + y) * 2] = (uint8_t)(c * 7 + y * 13 + 1);
            glyph_bits[(c * FH + y) * 2 + 1] = (uint8_t)(c ^ (y << 5) ^ 0x3F);
        }
    memset(glyph_bits + ' ' * FH * 2, 0, FH * 2); /* a real blank */
}

static bool font_bit(unsigned char ch, unsigned x, unsigned y)
{
    return glyph_bits[(ch * FH + y) * 2 + x / 8] & (0x80 >> (x % 8));
}

struct layout {
    const char *name;
    uint8_t bpp, rs, rz, gs, gz, bs, bz;
};
static const struct layout layouts[] = {
    {"xrgb8888", 32, 16, 8, 8, 8, 0, 8}, {"xbgr8888", 32, 0, 8, 8, 8, 16, 8},
    {"rgb888", 24, 16, 8, 8, 8, 0, 8},   {"bgr888", 24, 0, 8, 8, 8, 16, 8},
    {"rgb565", 16, 11, 5, 5, 6, 0, 5},
};

#define W 67   /* 6 columns of 10 pixels and 7 left over */
#define H 27   /* 4 rows of 6 pixels and 3 left over */
#define PAD 13 /* an odd number of padding bytes per line */
#define PAD_BYTE 0x5A

static uint8_t *screen;
static size_t screen_bytes;

static struct fbcon_surface surface(const struct layout *l)
{
    uint32_t pitch = W * (l->bpp / 8) + PAD;
    screen_bytes = (size_t)pitch * H;
    free(screen);
    screen = malloc(screen_bytes);
    memset(screen, PAD_BYTE, screen_bytes);
    return (struct fbcon_surface){screen, W,     H,     pitch, l->bpp, l->rs,
                                  l->rz,  l->gs, l->gz, l->bs, l->bz};
}

/* Cell (col, row) shows ch (with the cursor's underline when `cursor`). */
static bool cell_is(const struct fbcon *c, unsigned col, unsigned row, unsigned char ch,
                    bool cursor)
{
    for (unsigned y = 0; y < FH; y++)
        for (unsigned x = 0; x < FW; x++) {
            bool on = font_bit(ch, x, y);
            if (cursor && y >= FH - 2)
                on = !on;
            uint32_t want = on ? c->fg : c->bg;
            uint32_t got = fbcon_pixel(&c->s, col * FW + x, row * FH + y);
            if (got != want) {
                printf("  cell (%u,%u) '%c': pixel (%u,%u) is 0x%x, want 0x%x\n", col, row, ch, x,
                       y, got, want);
                return false;
            }
        }
    return true;
}

/* The margins right of the grid and below it are background, and the
 * padding after each line is untouched. */
static bool margins_ok(const struct fbcon *c)
{
    for (unsigned y = 0; y < H; y++) {
        for (unsigned x = 0; x < W; x++)
            if ((x >= c->cols * FW || y >= c->rows * FH) && fbcon_pixel(&c->s, x, y) != c->bg)
                return false;
        for (unsigned i = W * c->bytespp; i < c->s.pitch; i++)
            if (screen[y * c->s.pitch + i] != PAD_BYTE)
                return false;
    }
    return true;
}

static void puts_(struct fbcon *c, const char *s)
{
    fbcon_write(c, s, strlen(s));
}

HTEST(fbcon_draws_every_layout)
{
    make_font();
    for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
        const struct layout *l = &layouts[i];
        struct fbcon c;
        struct fbcon_surface s = surface(l);
        CHECK_EQ(fbcon_init(&c, &s, &font, NULL), 0);
        CHECK_EQ(c.cols, 6);
        CHECK_EQ(c.rows, 4);
        /* VGA attribute 0x07: 0xAA grey on black, in this layout. */
        uint32_t grey = ((0xAAu >> (8 - l->rz)) << l->rs) | ((0xAAu >> (8 - l->gz)) << l->gs) |
                        ((0xAAu >> (8 - l->bz)) << l->bs);
        CHECK_EQ(c.fg, grey);
        CHECK_EQ(c.bg, 0);
        puts_(&c, "Hi!\tX");
        CHECK(cell_is(&c, 0, 0, 'H', false));
        CHECK(cell_is(&c, 1, 0, 'i', false));
        CHECK(cell_is(&c, 2, 0, '!', false));
        /* The tab moved to column 8, past the 6 columns: a new line. */
        CHECK(cell_is(&c, 0, 1, 'X', false));
        CHECK(cell_is(&c, 3, 0, ' ', false));
        CHECK(margins_ok(&c));
        if (htest_failed())
            printf("  (layout %s)\n", l->name);
    }
}

HTEST(fbcon_wraps_and_ignores_control_bytes)
{
    make_font();
    struct fbcon c;
    struct fbcon_surface s = surface(&layouts[0]);
    CHECK_EQ(fbcon_init(&c, &s, &font, NULL), 0);
    puts_(&c, "abcdefgh"); /* 6 columns: g and h wrap */
    CHECK(cell_is(&c, 5, 0, 'f', false));
    CHECK(cell_is(&c, 0, 1, 'g', false));
    CHECK(cell_is(&c, 1, 1, 'h', false));
    /* ESC and other control bytes are the serial line's; "[K" is drawn, as
     * the VGA console draws it. \r returns to column 0. */
    puts_(&c, "\x1b[K\rZ");
    CHECK(cell_is(&c, 0, 1, 'Z', false));
    CHECK(cell_is(&c, 2, 1, '[', false));
    CHECK(cell_is(&c, 3, 1, 'K', false));
    CHECK_EQ(c.col, 1);
    CHECK_EQ(c.row, 1);
}

HTEST(fbcon_backspace_backs_over_the_wrap)
{
    make_font();
    struct fbcon c;
    struct fbcon_surface s = surface(&layouts[2]);
    CHECK_EQ(fbcon_init(&c, &s, &font, NULL), 0);
    puts_(&c, "123456"); /* fills row 0; the cursor wraps to row 1 */
    CHECK_EQ(c.row, 1);
    CHECK_EQ(c.col, 0);
    puts_(&c, "\b");
    CHECK_EQ(c.row, 0);
    CHECK_EQ(c.col, 5);
    CHECK(cell_is(&c, 5, 0, ' ', false));
    CHECK(cell_is(&c, 4, 0, '5', false));
    puts_(&c, "\b\b\b\b\b\b\b"); /* more than there is: stops at (0, 0) */
    CHECK_EQ(c.col, 0);
    CHECK_EQ(c.row, 0);
    CHECK(cell_is(&c, 0, 0, ' ', false));
}

/* The kernel's kind of bulk copy: ascending, whatever the overlap. */
static void ascending_copy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
}

/* Fill the screen past the bottom with numbered lines. */
static void scroll_run(struct fbcon *c)
{
    char line[8];
    for (int i = 0; i < 7; i++) {
        snprintf(line, sizeof(line), "L%d\n", i);
        puts_(c, line);
    }
    puts_(c, "end");
}

HTEST(fbcon_scrolls_with_and_without_shadow)
{
    make_font();
    for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
        struct fbcon a, b;
        struct fbcon_surface s = surface(&layouts[i]);
        uint8_t *shadow = calloc(1, screen_bytes);
        CHECK_EQ(fbcon_init(&a, &s, &font, shadow), 0);
        scroll_run(&a);
        /* 7 newlines on 4 rows: 4 scrolls; rows show L4, L5, L6, end. */
        CHECK_EQ(a.scrolls, 4);
        CHECK(cell_is(&a, 0, 0, 'L', false) && cell_is(&a, 1, 0, '4', false));
        CHECK(cell_is(&a, 1, 2, '6', false));
        CHECK(cell_is(&a, 0, 3, 'e', false) && cell_is(&a, 2, 3, 'd', false));
        CHECK(cell_is(&a, 3, 3, ' ', false));
        CHECK(margins_ok(&a));
        /* The shadow holds exactly the screen's pixels. */
        for (unsigned y = 0; y < H; y++)
            CHECK(memcmp(shadow + y * s.pitch, screen + y * s.pitch, W * s.bpp / 8) == 0);

        /* Without a shadow, rows move on the screen: the same picture. */
        uint8_t *first = malloc(screen_bytes);
        memcpy(first, screen, screen_bytes);
        s = surface(&layouts[i]);
        CHECK_EQ(fbcon_init(&b, &s, &font, NULL), 0);
        scroll_run(&b);
        CHECK_EQ(b.scrolls, 4);
        CHECK(memcmp(first, screen, screen_bytes) == 0);

        /* With the arch's ascending bulk copy instead of memmove. */
        s = surface(&layouts[i]);
        uint8_t *shadow2 = calloc(1, screen_bytes);
        CHECK_EQ(fbcon_init(&b, &s, &font, shadow2), 0);
        b.copy = ascending_copy;
        scroll_run(&b);
        CHECK(memcmp(first, screen, screen_bytes) == 0);
        free(shadow2);
        free(first);
        free(shadow);
    }
}

HTEST(fbcon_cursor_follows_and_restores)
{
    make_font();
    for (int with_shadow = 0; with_shadow < 2; with_shadow++) {
        struct fbcon c;
        struct fbcon_surface s = surface(&layouts[1]);
        uint8_t *shadow = with_shadow ? calloc(1, screen_bytes) : NULL;
        CHECK_EQ(fbcon_init(&c, &s, &font, shadow), 0);
        fbcon_cursor(&c, true);
        CHECK(cell_is(&c, 0, 0, ' ', true));
        puts_(&c, "ab");
        CHECK(cell_is(&c, 0, 0, 'a', false));
        CHECK(cell_is(&c, 1, 0, 'b', false));
        CHECK(cell_is(&c, 2, 0, ' ', true));
        puts_(&c, "\b");
        CHECK(cell_is(&c, 1, 0, ' ', true));
        CHECK(cell_is(&c, 2, 0, ' ', false));
        /* Down to the bottom and beyond: the cursor rides the scroll. */
        puts_(&c, "\n\n\n\nq");
        CHECK(cell_is(&c, 0, 3, 'q', false));
        CHECK(cell_is(&c, 1, 3, ' ', true));
        CHECK(cell_is(&c, 1, 2, ' ', false));
        fbcon_cursor(&c, false);
        CHECK(cell_is(&c, 1, 3, ' ', false));
        CHECK(margins_ok(&c));
        free(shadow);
    }
}

HTEST(fbcon_refuses_what_it_cannot_draw)
{
    make_font();
    struct fbcon c;
    struct fbcon_surface s = surface(&layouts[0]);
    struct fbcon_surface t = s;
    t.bpp = 8;
    CHECK_EQ(fbcon_init(&c, &t, &font, NULL), -E_INVAL);
    t = s;
    t.red_shift = 28; /* 28 + 8 > 32 */
    CHECK_EQ(fbcon_init(&c, &t, &font, NULL), -E_INVAL);
    t = s;
    t.blue_size = 0;
    CHECK_EQ(fbcon_init(&c, &t, &font, NULL), -E_INVAL);
    t = s;
    t.pitch = W * 4 - 1;
    CHECK_EQ(fbcon_init(&c, &t, &font, NULL), -E_INVAL);
    t = s;
    t.width = FW - 1; /* not one glyph wide */
    CHECK_EQ(fbcon_init(&c, &t, &font, NULL), -E_INVAL);
    t = s;
    t.base = NULL;
    CHECK_EQ(fbcon_init(&c, &t, &font, NULL), -E_INVAL);
    struct fbcon_font wide = font;
    wide.width = 33;
    wide.row_bytes = 5;
    CHECK_EQ(fbcon_init(&c, &s, &wide, NULL), -E_INVAL);
    struct fbcon_font thin = font;
    thin.row_bytes = 1; /* 10 pixels need 2 bytes a row */
    CHECK_EQ(fbcon_init(&c, &s, &thin, NULL), -E_INVAL);
    /* A refused console draws nothing and does not crash when written to. */
    for (size_t i = 0; i < screen_bytes; i++)
        CHECK_EQ(screen[i], PAD_BYTE);
    puts_(&c, "x\n");
    fbcon_cursor(&c, true);
    for (size_t i = 0; i < screen_bytes; i++)
        CHECK_EQ(screen[i], PAD_BYTE);
}
