/*
 * The memory modes of the allocator workloads (workloads.c includes this
 * file once, after its workload-3 helpers, so that they share the adapter's
 * static inlines): each runs in a fresh process and reads the process's
 * RSS, which is measured the same way for every allocator.
 *
 *   frag, fragwide   peak RSS growth over peak live bytes on workload 3
 *   burst, burst1    RSS still held after a burst is freed and released
 */
#ifndef PAGODA_BENCH_MEMORY_MODES_H
#define PAGODA_BENCH_MEMORY_MODES_H

/* Footprint in a fresh process: RSS above the baseline taken after every
 * harness array is in place, sampled every 64 steps and at the end (and
 * the process's peak RSS), over the peak live bytes. */
static void w3_footprint(const char *tag, const struct w3_seq *s)
{
    char key[96];
    char **slot = bench_array(W3_LIVE * sizeof(char *));
    uint32_t *sz = bench_array(W3_LIVE * 4);
    size_t base = bench_rss(), peak_rss = base, live = 0, peak_live = 0, peak_fp = 0;
    for (int i = 0; i < W3_LIVE; i++) {
        slot[i] = bm_malloc(s->init_size[i]);
        memset(slot[i], (char)i, s->init_size[i]);
        sz[i] = s->init_size[i];
        live += sz[i];
    }
    peak_live = live;
    for (long i = 0; i < s->steps; i++) {
        uint32_t k = s->slot[i], n = s->size[i];
        bm_free(slot[k]);
        slot[k] = bm_malloc(n);
        memset(slot[k], (char)i, n);
        live = live - sz[k] + n;
        sz[k] = n;
        if (live > peak_live)
            peak_live = live;
        if ((i & 63) == 0) {
            size_t r = bench_rss(), f = bm_footprint();
            if (r > peak_rss)
                peak_rss = r;
            if (f > peak_fp)
                peak_fp = f;
        }
    }
    size_t r = bench_rss(), pr = bench_peak_rss(), f = bm_footprint();
    peak_rss = MAX(peak_rss, MAX(r, pr));
    peak_fp = MAX(peak_fp, f);
#ifdef BM_PEAK_FOOTPRINT /* exact, where the adapter tracks it */
    peak_fp = BM_PEAK_FOOTPRINT();
#endif
    snprintf(key, sizeof(key), "rss_over_live%s", tag);
    bench_emit(key, (double)(peak_rss - base) / (double)peak_live);
    snprintf(key, sizeof(key), "rss_growth%s_bytes", tag);
    bench_emit(key, (double)(peak_rss - base));
    if (!*tag) { /* the legacy workload-6 keys */
        bench_emit("w6_peak_footprint_bytes", (double)peak_fp);
        bench_emit("w6_peak_live_bytes", (double)peak_live);
        if (peak_fp)
            bench_emit("w6_footprint_over_live", (double)peak_fp / (double)peak_live);
    }
    for (int i = 0; i < W3_LIVE; i++)
        bm_free(slot[i]);
}

static void run_frag(int wide)
{
    struct w3_seq s = w3_make(bench_iters(wide ? 300000 : 1000000, 20000), wide);
    w3_footprint(wide ? "_wide" : "", &s);
}

/* The burst: 100,000 objects of 8 B-2 KiB (about 100 MiB), each written
 * whole, then freed in a random order (all but 1% with `survive`), then
 * the allocator's release call. RSS above the baseline is what it still
 * holds; with survivors, the live bytes are reported too. */
#define BURST_N 100000
static void run_burst(int survive)
{
    struct bench_rng r = {0xB0B5ULL};
    char **p = bench_array(BURST_N * sizeof(char *));
    uint32_t *sz = bench_array(BURST_N * 4), *order = bench_array(BURST_N * 4);
    uint8_t *keep = bench_array(BURST_N);
    for (int i = 0; i < BURST_N; i++) {
        sz[i] = (uint32_t)bench_range(&r, 8, 2048);
        order[i] = (uint32_t)i;
        keep[i] = survive && bench_range(&r, 0, 99) == 0;
    }
    for (int i = BURST_N - 1; i > 0; i--) { /* Fisher-Yates */
        uint32_t j = (uint32_t)bench_range(&r, 0, (uint64_t)i), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    size_t base = bench_rss(), live = 0;
    for (int i = 0; i < BURST_N; i++) {
        p[i] = bm_malloc(sz[i]);
        memset(p[i], 0x5a, sz[i]);
        live += sz[i];
    }
    size_t peak = bench_rss();
    for (int i = 0; i < BURST_N; i++) {
        uint32_t k = order[i];
        if (!keep[k]) {
            bm_free(p[k]);
            live -= sz[k];
        }
    }
    const char *no = getenv("BENCH_NO_RELEASE");
    if (!no || !*no || *no == '0')
        bm_release();
    size_t after = bench_rss();
    const char *tag = survive ? "burst1" : "burst";
    char key[64];
    snprintf(key, sizeof(key), "%s_retained_kib", tag);
    bench_emit(key, after > base ? (double)(after - base) / 1024 : 0);
    snprintf(key, sizeof(key), "%s_peak_kib", tag);
    bench_emit(key, (double)(peak - base) / 1024);
    snprintf(key, sizeof(key), "%s_live_kib", tag);
    bench_emit(key, (double)live / 1024);
    for (int i = 0; i < BURST_N; i++)
        if (keep[i])
            bm_free(p[i]);
}

#endif
