/*
 * PS/2 keyboard on IRQ 1, scancode set 1 (the controller translates the
 * keyboard's set 2 into set 1, as the BIOS leaves it).
 *
 * Keys become the bytes a serial terminal would send, so that the monitor's
 * line editor has one input language: Enter is '\r', Backspace 0x7F, Ctrl
 * with a letter its control code, and the arrows ESC [ A/B/C/D. Shift, Ctrl
 * and Caps Lock are tracked; key releases only matter for the modifiers.
 */
#include "cpu.h"
#include "irq.h"
#include "x86.h"

#define KBD_DATA 0x60
#define KBD_STATUS 0x64
#define KBD_OBF 0x01 /* output buffer full: a byte waits at 0x60 */

/* Set-1 make codes 0x00..0x39 on a US layout, without and with Shift:
 * 16 codes a row. */
/* clang-format off */
static const char plain[0x3A] = {
    0,    0x1B, '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '-', '=', 0x7F, '\t',
    'q',  'w',  'e', 'r', 't', 'y', 'u', 'i', 'o', 'p', '[', ']', '\r', 0,   'a',  's',
    'd',  'f',  'g', 'h', 'j', 'k', 'l', ';', '\'', '`', 0,  '\\', 'z', 'x', 'c',  'v',
    'b',  'n',  'm', ',', '.', '/', 0,   '*', 0,   ' ',
};
static const char shifted[0x3A] = {
    0,    0x1B, '!', '@', '#', '$', '%', '^', '&', '*', '(', ')', '_', '+', 0x7F, '\t',
    'Q',  'W',  'E', 'R', 'T', 'Y', 'U', 'I', 'O', 'P', '{', '}', '\r', 0,   'A',  'S',
    'D',  'F',  'G', 'H', 'J', 'K', 'L', ':', '"', '~', 0,   '|', 'Z', 'X', 'C',  'V',
    'B',  'N',  'M', '<', '>', '?', 0,   '*', 0,   ' ',
};
/* clang-format on */

#define SC_LSHIFT 0x2A
#define SC_RSHIFT 0x36
#define SC_CTRL 0x1D
#define SC_CAPS 0x3A
#define SC_EXT 0xE0
#define SC_RELEASE 0x80

static bool shift_l, shift_r, ctrl, caps, extended;

void kbd_scancode(uint8_t sc)
{
    if (sc == SC_EXT) {
        extended = true;
        return;
    }
    bool release = sc & SC_RELEASE;
    uint8_t code = sc & (uint8_t)~SC_RELEASE;
    bool ext = extended;
    extended = false;

    if (code == SC_CTRL) { /* left Ctrl, or right Ctrl after E0 */
        ctrl = !release;
        return;
    }
    if (!ext && code == SC_LSHIFT) {
        shift_l = !release;
        return;
    }
    if (!ext && code == SC_RSHIFT) {
        shift_r = !release;
        return;
    }
    if (release)
        return;
    if (ext) {
        switch (code) {
        case 0x48:
            input_push_str("\x1b[A");
            break; /* up */
        case 0x50:
            input_push_str("\x1b[B");
            break; /* down */
        case 0x4D:
            input_push_str("\x1b[C");
            break; /* right */
        case 0x4B:
            input_push_str("\x1b[D");
            break; /* left */
        case 0x1C:
            input_push('\r');
            break; /* keypad Enter */
        case 0x35:
            input_push('/');
            break; /* keypad / */
        default:
            break; /* Home, Del, ... */
        }
        return;
    }
    if (code == SC_CAPS) {
        caps = !caps;
        return;
    }
    if (code >= sizeof(plain))
        return; /* F-keys, keypad, ... */
    bool shift = shift_l || shift_r;
    char c = shift ? shifted[code] : plain[code];
    if (c >= 'a' && c <= 'z' && caps)
        c = (char)(c - 'a' + 'A');
    else if (c >= 'A' && c <= 'Z' && caps)
        c = (char)(c - 'A' + 'a');
    if (ctrl && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
        c = (char)(c & 0x1F);
    if (c)
        input_push((uint8_t)c);
}

static bool kbd_irq(struct trap_frame *f)
{
    /* One byte per interrupt; a second one raises IRQ 1 again. */
    if (inb(KBD_STATUS) & KBD_OBF)
        kbd_scancode(inb(KBD_DATA));
    pic_eoi(IRQ_KBD);
    return true;
}

void kbd_init(void)
{
    /* Drop whatever the BIOS and GRUB left unread. */
    for (int i = 0; i < 32 && (inb(KBD_STATUS) & KBD_OBF); i++)
        (void)inb(KBD_DATA);
    trap_set_handler(IRQ_BASE + IRQ_KBD, kbd_irq);
    pic_unmask(IRQ_KBD);
}
