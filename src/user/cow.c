/*
 * cow: fork, then parent and child write to pages they share. Each must see
 * only its own writes; the child's writes copy (the parent still maps the
 * frames), the parent's writes after the child is gone take the frames
 * over. With `hold`, both stop right after the fork, for the monitor.
 */
#include "ulib.h"

#define PROG "cow"
#define PAGES 16

static volatile char *pages;

static int all(int from, int to, char v)
{
    for (int i = from; i < to; i++)
        if (pages[i * 4096L] != v || pages[i * 4096L + 4095] != v)
            return 0;
    return 1;
}

static void fill(int from, int to, char v)
{
    for (int i = from; i < to; i++) {
        pages[i * 4096L] = v;
        pages[i * 4096L + 4095] = v;
    }
}

int main(int argc, char **argv)
{
    int hold = argc > 1 && strcmp(argv[1], "hold") == 0;
    pages = sbrk(PAGES * 4096L);
    CHECK(pages != NULL);
    fill(0, PAGES, 'P');
    struct sys_memstat m0, m1, m2;
    CHECK(memstat(&m0) == 0);

    long pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (hold)
            stop();
        CHECK(memstat(&m1) == 0);
        printf("cow: child %ld shares %lu pages with its parent\n", getpid(), m1.shared);
        CHECK(m1.shared >= PAGES / 2); /* the parent may have copied the rest */
        fill(0, PAGES / 2, 'C');
        CHECK(memstat(&m2) == 0);
        printf("cow: child wrote %d pages: %lu copied, %lu taken over\n", PAGES / 2,
               m2.cow_copies - m1.cow_copies, m2.cow_takeovers - m1.cow_takeovers);
        CHECK(m2.cow_copies - m1.cow_copies == PAGES / 2);
        CHECK(all(0, PAGES / 2, 'C'));
        CHECK(all(PAGES / 2, PAGES, 'P')); /* the parent's 'Q's are not ours */
        printf("cow: child sees its own writes only\n");
        return 0;
    }
    if (hold) {
        printf("cow: parent %ld and child %ld stop after the fork (cont each)\n", getpid(), pid);
        stop();
    }
    CHECK(memstat(&m1) == 0);
    fill(PAGES / 2, PAGES / 2 + 4, 'Q');
    int status = -2;
    CHECK(wait(&status) == pid);
    CHECK(status == 0);
    CHECK(all(0, PAGES / 2, 'P')); /* the child's writes are not ours */
    CHECK(all(PAGES / 2, PAGES / 2 + 4, 'Q'));
    CHECK(all(PAGES / 2 + 4, PAGES, 'P'));
    fill(0, PAGES / 2, 'R'); /* the child is gone: these frames are ours alone */
    CHECK(memstat(&m2) == 0);
    unsigned long copies = m2.cow_copies - m1.cow_copies,
                  takes = m2.cow_takeovers - m1.cow_takeovers;
    printf("cow: parent wrote %d shared pages, then %d after the child's exit: %lu copied, %lu "
           "taken over\n",
           4, PAGES / 2, copies, takes);
    CHECK(copies + takes == 4 + PAGES / 2);
    CHECK(takes >= PAGES / 2);
    CHECK(m2.shared == 0);
    CHECK(all(0, PAGES / 2, 'R'));
    printf("cow: ok: parent and child each saw only their own writes; %lu frames now\n", m2.frames);
    return 0;
}
