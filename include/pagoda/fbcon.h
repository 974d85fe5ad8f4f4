/*
 * The framebuffer text console's drawing core (src/lib/fbcon.c): a text grid
 * drawn with a bitmap font onto a linear framebuffer of any size, pitch and
 * RGB layout (16, 24 or 32 bits per pixel).
 *
 * It behaves as the VGA text console does (arch/x86_64/vga.c): light grey on
 * black, \n \r \b \t, other control bytes dropped, \b backing up over a wrap,
 * scrolling at the bottom; plus a cursor (an underline) for line editing.
 *
 * Portable: the kernel hands it the mapped framebuffer, host tests a memory
 * buffer. With a shadow (a RAM copy of the screen), scrolling moves rows in
 * RAM and writes the screen once, never reading device memory; without one
 * it moves rows on the screen itself.
 */
#ifndef PAGODA_FBCON_H
#define PAGODA_FBCON_H

#include <pagoda/types.h>

/* A linear RGB framebuffer: `pitch` bytes per line (>= width * bpp / 8),
 * each colour channel `size` bits at bit `shift` of a little-endian pixel. */
struct fbcon_surface {
    uint8_t *base;
    uint32_t width, height, pitch;
    uint8_t bpp;
    uint8_t red_shift, red_size, green_shift, green_size, blue_shift, blue_size;
};

/* A bitmap font of 256 glyphs indexed by byte value (Latin-1): `height`
 * rows of `row_bytes` bytes each, most significant bit leftmost. */
struct fbcon_font {
    uint16_t width, height, row_bytes;
    const uint8_t *glyphs;
    const char *name;
};

struct fbcon {
    struct fbcon_surface s;
    uint8_t *shadow; /* NULL, or pitch * height bytes laid out as s */
    const struct fbcon_font *font;
    uint32_t cols, rows; /* the text grid */
    uint32_t col, row;   /* where the next character goes */
    uint32_t fg, bg;     /* packed pixels */
    uint32_t bytespp;
    bool cursor_on;    /* draw a cursor at (col, row) */
    bool cursor_drawn; /* it is on the screen, at (cur_col, cur_row) */
    uint32_t cur_col, cur_row;
    uint64_t scrolls; /* how many times the grid scrolled */
    /* Optional bulk copy for scrolling (NULL: memmove): n bytes, ascending,
     * so dst may overlap src from below. The kernel sets a wider one. */
    void (*copy)(void *dst, const void *src, size_t n);
};

/* Set up `c` on surface `s` with `font`, clear the screen and home the
 * cursor. `shadow` is NULL or pitch * height writable bytes. Returns 0, or
 * -E_INVAL for a layout it cannot draw (bpp not 16/24/32, a channel outside
 * the pixel, pitch too small, or a screen smaller than one glyph). */
int fbcon_init(struct fbcon *c, const struct fbcon_surface *s, const struct fbcon_font *font,
               uint8_t *shadow);

/* Write bytes, as the VGA console would; the cursor follows. */
void fbcon_write(struct fbcon *c, const char *s, size_t n);
void fbcon_putc(struct fbcon *c, char ch);

/* Scroll the grid up one text row (the bottom row comes back blank). */
void fbcon_scroll(struct fbcon *c);

/* Show or hide the cursor. */
void fbcon_cursor(struct fbcon *c, bool on);

/* The pixel value for an 8-bit-per-channel colour on surface s. */
uint32_t fbcon_pack(const struct fbcon_surface *s, uint8_t r, uint8_t g, uint8_t b);

/* The pixel at (x, y) read back from s (for tests). */
uint32_t fbcon_pixel(const struct fbcon_surface *s, uint32_t x, uint32_t y);

#endif
