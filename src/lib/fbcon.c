/*
 * fbcon: text on a linear framebuffer (see <pagoda/fbcon.h>).
 *
 * Theory of operation. The screen is a grid of cols x rows cells of one
 * glyph each, starting at the top-left pixel; the pixels right of the last
 * column and below the last row stay background. A glyph is drawn one pixel
 * line at a time: the line is built in a small buffer in the surface's pixel
 * format and copied to the screen (and to the shadow) with one memcpy, so
 * the device sees only sequential writes.
 *
 * Scrolling. With a shadow, the text area moves up by one text row in RAM,
 * the freed row is cleared there, and the whole text area is copied to the
 * screen in one sequential pass (line by line when the pitch has padding,
 * which is left alone): a write-combining framebuffer takes that
 * at bus speed, and device memory is never read (reads from uncached or
 * write-combining memory are very slow). Without a shadow the rows move on
 * the screen itself.
 *
 * The cursor is an underline over the bottom rows of its cell, drawn by
 * inverting those pixels (against the shadow when there is one), so drawing
 * it twice restores the cell. It is taken off before anything changes the
 * screen and put back once a whole write is done.
 *
 * Cost: a character is height line copies of width * bytes-per-pixel; a
 * scroll is one memmove of the text area in RAM plus one copy to the screen.
 * Weaknesses: the shadow doubles the memory the screen takes; bytes 0x80 and
 * up are drawn as Latin-1, where the VGA console shows code page 437.
 */
#include <pagoda/errno.h>
#include <pagoda/fbcon.h>
#include <pagoda/string.h>

#define FBCON_MAX_FONT_WIDTH 32
#define CURSOR_LINES 2
/* The VGA console's attribute 0x07: light grey on black. */
#define FG_R 0xAA
#define FG_G 0xAA
#define FG_B 0xAA

static bool channel_ok(uint8_t shift, uint8_t size, uint8_t bpp)
{
    return size >= 1 && size <= 8 && shift + size <= bpp;
}

uint32_t fbcon_pack(const struct fbcon_surface *s, uint8_t r, uint8_t g, uint8_t b)
{
    return ((uint32_t)(r >> (8 - s->red_size)) << s->red_shift) |
           ((uint32_t)(g >> (8 - s->green_size)) << s->green_shift) |
           ((uint32_t)(b >> (8 - s->blue_size)) << s->blue_shift);
}

static inline void put_px(uint8_t *p, uint32_t v, uint32_t bytespp)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    if (bytespp > 2)
        p[2] = (uint8_t)(v >> 16);
    if (bytespp > 3)
        p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t get_px(const uint8_t *p, uint32_t bytespp)
{
    uint32_t v = p[0] | (uint32_t)p[1] << 8;
    if (bytespp > 2)
        v |= (uint32_t)p[2] << 16;
    if (bytespp > 3)
        v |= (uint32_t)p[3] << 24;
    return v;
}

uint32_t fbcon_pixel(const struct fbcon_surface *s, uint32_t x, uint32_t y)
{
    return get_px(s->base + (size_t)y * s->pitch + (size_t)x * (s->bpp / 8), s->bpp / 8);
}

/* Copy n bytes at offset off of the screen from `line` to the shadow and the
 * screen. */
static void emit(struct fbcon *c, size_t off, const uint8_t *line, size_t n)
{
    if (c->shadow)
        memcpy(c->shadow + off, line, n);
    memcpy(c->s.base + off, line, n);
}

static void fill_rect(struct fbcon *c, uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint32_t v)
{
    uint8_t line[FBCON_MAX_FONT_WIDTH * 4];
    size_t bpp = c->bytespp;
    /* One cell-wide line at a time, so the buffer stays small. */
    for (uint32_t i = 0; i < FBCON_MAX_FONT_WIDTH; i++)
        put_px(line + i * bpp, v, (uint32_t)bpp);
    for (uint32_t row = 0; row < h; row++) {
        for (uint32_t done = 0; done < w;) {
            uint32_t n = MIN(w - done, (uint32_t)FBCON_MAX_FONT_WIDTH);
            emit(c, (size_t)(y + row) * c->s.pitch + (size_t)(x + done) * bpp, line, n * bpp);
            done += n;
        }
    }
}

static void draw_glyph(struct fbcon *c, uint32_t col, uint32_t row, unsigned char ch)
{
    const struct fbcon_font *f = c->font;
    const uint8_t *g = f->glyphs + (size_t)ch * f->height * f->row_bytes;
    uint8_t line[FBCON_MAX_FONT_WIDTH * 4];
    uint32_t bpp = c->bytespp;
    size_t x0 = (size_t)col * f->width * bpp, y0 = (size_t)row * f->height;
    for (uint32_t y = 0; y < f->height; y++, g += f->row_bytes) {
        for (uint32_t x = 0; x < f->width; x++) {
            bool on = g[x / 8] & (0x80 >> (x % 8));
            put_px(line + x * bpp, on ? c->fg : c->bg, bpp);
        }
        emit(c, (y0 + y) * c->s.pitch + x0, line, (size_t)f->width * bpp);
    }
}

/* Invert the cursor's pixels in cell (col, row). */
static void toggle_cursor(struct fbcon *c, uint32_t col, uint32_t row)
{
    const struct fbcon_font *f = c->font;
    uint8_t line[FBCON_MAX_FONT_WIDTH * 4];
    uint32_t bpp = c->bytespp, lines = MIN((uint32_t)CURSOR_LINES, (uint32_t)f->height);
    uint32_t mask = c->fg ^ c->bg;
    for (uint32_t y = f->height - lines; y < f->height; y++) {
        size_t off = ((size_t)row * f->height + y) * c->s.pitch + (size_t)col * f->width * bpp;
        const uint8_t *src = c->shadow ? c->shadow + off : c->s.base + off;
        for (uint32_t x = 0; x < f->width; x++)
            put_px(line + x * bpp, get_px(src + x * bpp, bpp) ^ mask, bpp);
        emit(c, off, line, (size_t)f->width * bpp);
    }
}

static void cursor_hide(struct fbcon *c)
{
    if (c->cursor_drawn) {
        toggle_cursor(c, c->cur_col, c->cur_row);
        c->cursor_drawn = false;
    }
}

static void cursor_show(struct fbcon *c)
{
    if (c->cursor_on && !c->cursor_drawn && c->col < c->cols && c->row < c->rows) {
        toggle_cursor(c, c->col, c->row);
        c->cur_col = c->col;
        c->cur_row = c->row;
        c->cursor_drawn = true;
    }
}

int fbcon_init(struct fbcon *c, const struct fbcon_surface *s, const struct fbcon_font *font,
               uint8_t *shadow)
{
    memset(c, 0, sizeof(*c));
    if (!s->base || !font || !font->glyphs)
        return -E_INVAL;
    if (s->bpp != 16 && s->bpp != 24 && s->bpp != 32)
        return -E_INVAL;
    if (!channel_ok(s->red_shift, s->red_size, s->bpp) ||
        !channel_ok(s->green_shift, s->green_size, s->bpp) ||
        !channel_ok(s->blue_shift, s->blue_size, s->bpp))
        return -E_INVAL;
    if ((uint64_t)s->width * (s->bpp / 8) > s->pitch)
        return -E_INVAL;
    if (font->width == 0 || font->width > FBCON_MAX_FONT_WIDTH || font->height == 0 ||
        font->row_bytes < (font->width + 7) / 8)
        return -E_INVAL;
    if (s->width < font->width || s->height < font->height)
        return -E_INVAL;
    c->s = *s;
    c->shadow = shadow;
    c->font = font;
    c->bytespp = s->bpp / 8;
    c->cols = s->width / font->width;
    c->rows = s->height / font->height;
    c->fg = fbcon_pack(s, FG_R, FG_G, FG_B);
    c->bg = fbcon_pack(s, 0, 0, 0);
    fill_rect(c, 0, 0, s->width, s->height, c->bg);
    return 0;
}

static void move_bytes(void *dst, const void *src, size_t n)
{
    memmove(dst, src, n);
}

/* Copy n lines from src to dst (lines of the surface's pitch), visible pixels
 * only: the padding after each line may not be ours to write. */
static void move_lines(const struct fbcon *c, uint8_t *dst, const uint8_t *src, size_t n)
{
    size_t w = (size_t)c->s.width * c->bytespp;
    void (*copy)(void *, const void *, size_t) = c->copy ? c->copy : move_bytes;
    if (w == c->s.pitch) {
        copy(dst, src, n * w);
        return;
    }
    for (size_t y = 0; y < n; y++)
        copy(dst + y * c->s.pitch, src + y * c->s.pitch, w);
}

void fbcon_scroll(struct fbcon *c)
{
    const struct fbcon_font *f = c->font;
    size_t text_lines = (size_t)c->rows * f->height, keep = text_lines - f->height;
    size_t row_bytes = (size_t)f->height * c->s.pitch;
    bool was = c->cursor_drawn;
    cursor_hide(c);
    if (c->shadow) {
        move_lines(c, c->shadow, c->shadow + row_bytes, keep);
        /* The background is black, which packs to 0 in every layout. */
        for (size_t y = keep; y < text_lines; y++)
            memset(c->shadow + y * c->s.pitch, 0, (size_t)c->s.width * c->bytespp);
        move_lines(c, c->s.base, c->shadow, text_lines); /* one pass over the device */
    } else {
        move_lines(c, c->s.base, c->s.base + row_bytes, keep);
        fill_rect(c, 0, (c->rows - 1) * f->height, c->s.width, f->height, c->bg);
    }
    c->scrolls++;
    if (was)
        cursor_show(c);
}

/* One byte, as vga_putc handles it; the caller hides and shows the cursor. */
static void put_one(struct fbcon *c, char ch)
{
    switch (ch) {
    case '\n':
        c->col = 0;
        c->row++;
        break;
    case '\r':
        c->col = 0;
        break;
    case '\b':
        /* At column 0, back up over the wrap onto the row above, so that a
         * line longer than the screen is wide can be erased. */
        if (c->col == 0 && c->row > 0) {
            c->row--;
            c->col = c->cols;
        }
        if (c->col > 0)
            draw_glyph(c, --c->col, c->row, ' ');
        break;
    case '\t':
        c->col = (c->col + 8) & ~7u;
        break;
    default:
        if ((unsigned char)ch < 0x20)
            return; /* escape sequences are for the serial line */
        draw_glyph(c, c->col, c->row, (unsigned char)ch);
        c->col++;
    }
    if (c->col >= c->cols) {
        c->col = 0;
        c->row++;
    }
    if (c->row >= c->rows) {
        fbcon_scroll(c);
        c->row = c->rows - 1;
    }
}

void fbcon_write(struct fbcon *c, const char *s, size_t n)
{
    if (!c->font)
        return;
    cursor_hide(c);
    for (size_t i = 0; i < n; i++)
        put_one(c, s[i]);
    cursor_show(c);
}

void fbcon_putc(struct fbcon *c, char ch)
{
    fbcon_write(c, &ch, 1);
}

void fbcon_cursor(struct fbcon *c, bool on)
{
    if (!c->font)
        return;
    c->cursor_on = on;
    if (on)
        cursor_show(c);
    else
        cursor_hide(c);
}
