// The fused engine's first layer, whose kernel lives in registers: warp w of the block owns
// SPAN pixels (56; 28 or 14 when the model's block is one of a cluster of two or four, the block's
// share of the image starting at c.px0) and lane l the units l and l + 32 (UPL of them), so a
// thread keeps the UPL x SPAN weights W0[i][j] of its pixels and units. The batch's images (the
// block's share of them) are standardized into shared memory first; the lanes of a warp read the
// same pixels (a broadcast, four or two at a time), so a lane's dot product is its own and the
// warps' partial sums meet once in shared memory (the cluster's, through distributed shared
// memory). The update is a rank-1 update per sample of each lane's own weights.
#ifndef DD_FUSED_FIRST_LAYER_CUH
#define DD_FUSED_FIRST_LAYER_CUH

#include "fused_ctx.cuh"

// The first pixel of this thread's span, in the image and in the block's share of it.
template <int SPAN> DD_SIMT_FN int span_pixel(const fused_ctx &c) {
    return c.px0 + c.warp * SPAN;
}
template <int SPAN> DD_SIMT_FN int span_offset(const fused_ctx &c) {
    return c.warp * SPAN;
}

// The blocks of a cluster whose warps' spans are SPAN pixels (plan.cluster).
template <int SPAN> DD_SIMT_FN constexpr int cluster_of() {
    return DD_IMAGE_PIXELS / (DD_FUSED_WARPS * SPAN);
}

// Pixels a span's loops read at a time from shared memory: four (a float4) where spans are whole
// quads, else two (a float2): a cluster of four's 14-pixel spans start only 8 bytes aligned.
template <int SPAN> DD_SIMT_FN constexpr int span_vector() {
    return SPAN % 4 == 0 ? 4 : 2;
}

// V standardized pixels at AT (aligned to V floats) into registers, as one vector load.
DD_SIMT_FN void load_pixels(const float *at, float (&v)[4]) {
    const float4 t = *simt_aligned((const float4 *)at);
    v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
}
DD_SIMT_FN void load_pixels(const float *at, float (&v)[2]) {
    const float2 t = *simt_aligned((const float2 *)at);
    v[0] = t.x, v[1] = t.y;
}

// Quads (four pixels) in the block's share of an image (block_pixels / 4), known at compile
// time from SPAN, so that finding a quad's sample divides by a constant (a multiply and a shift,
// not the ~40-instruction division by a run-time value).
template <int SPAN> DD_SIMT_FN constexpr int block_quads() {
    static_assert(DD_FUSED_WARPS * SPAN % 4 == 0, "a block's share of an image is whole quads");
    return DD_FUSED_WARPS * SPAN / 4;
}

// Quad T (four pixels) of the block's share of the images of the samples at order[FIRST ..), as
// stored in global memory, and the same quad standardized into X (the shares back to back).
template <int SPAN> DD_SIMT_FN uchar4 read_quad(const fused_ctx &c, int first, int t) {
    constexpr int quads = block_quads<SPAN>();
    const size_t row = c.r->order[first + t / quads];
    return *simt_aligned(
        (const uchar4 *)(c.r->pixels + row * DD_IMAGE_PIXELS + c.px0 + 4 * (t % quads)));
}
DD_SIMT_FN void write_quad(const fused_ctx &c, float *x, int t, uchar4 px) {
    *simt_aligned((float4 *)(x + 4 * t)) =
        make_float4(c.table[px.x], c.table[px.y], c.table[px.z], c.table[px.w]);
}

// The standardized images of the N samples at order[FIRST ..) into X (N x block_pixels), four
// pixels a thread at a time. The reads (an order entry, then the pixels it points to) go out
// STAGE_READS at a time before any of them is stored: the compiler cannot move a global read
// above a store through a generic pointer, so a plain loop would wait out a trip to memory per
// four pixels.
#define DD_FUSED_STAGE_READS 8
template <int SPAN> DD_SIMT_FN void stage_images(const fused_ctx &c, float *x, int first, int n) {
    const int total = n * block_quads<SPAN>(), T = c.p->threads;
    for (int t0 = c.tid; t0 < total; t0 += DD_FUSED_STAGE_READS * T) {
        uchar4 px[DD_FUSED_STAGE_READS] = {}; // each one set and used under the same test
        DD_UNROLL
        for (int k = 0; k < DD_FUSED_STAGE_READS; k++)
            if (t0 + k * T < total) px[k] = read_quad<SPAN>(c, first, t0 + k * T);
        DD_UNROLL
        for (int k = 0; k < DD_FUSED_STAGE_READS; k++)
            if (t0 + k * T < total) write_quad(c, x, t0 + k * T, px[k]);
    }
}

// The next batch, read from global memory into registers early and written to shared memory
// late, so that the reads' latency (the order, then the pixels and labels it points to: two trips
// to L2 or DRAM) hides behind work instead of stalling a phase: K quads of the images a thread
// and a label. Across the whole step (from its start to the first layer's update) for batches
// whose images fit DD_FUSED_PREFETCH quads a thread (up to 4 samples at 448 threads, 18 on four
// SMs); across the backward pass's first phase for those that fit DD_FUSED_STAGE_READS.
#define DD_FUSED_PREFETCH 2
template <int K> struct prefetch_k {
    uchar4 quad[K];
    int label;
};
typedef prefetch_k<DD_FUSED_PREFETCH> prefetch;

// Whether the next N samples fit K quads a thread (the labels alone where images are not staged
// ahead).
template <int K> DD_SIMT_FN int fits_registers(const dd_fused_plan &p, int n) {
    return n <= p.threads && (!p.x_double || n * (p.block_pixels / 4) <= p.threads * K);
}

DD_SIMT_FN int prefetchable(const dd_fused_plan &p, int n) {
    return p.x_double && fits_registers<DD_FUSED_PREFETCH>(p, n);
}

// The N samples at order[FIRST ..) into F (fits_registers<K>(N) must hold), this thread's share of
// them as the thread whose index is SLOT (c.tid, or another numbering that keeps some warp free).
template <int SPAN, int K>
DD_SIMT_FN void prefetch_load(const fused_ctx &c, prefetch_k<K> &f, int first, int n, int slot) {
    const int quads = c.p->x_double ? n * block_quads<SPAN>() : 0;
    DD_UNROLL
    for (int k = 0; k < K; k++) {
        const int t = slot + k * c.p->threads;
        if (t < quads) f.quad[k] = read_quad<SPAN>(c, first, t);
    }
    if (slot < n) f.label = c.r->labels[c.r->order[first + slot]];
}

// F's images, standardized, into c.x_next and its labels into c.next_labels (SLOT as loaded).
template <int SPAN, int K>
DD_SIMT_FN void prefetch_store(const fused_ctx &c, const prefetch_k<K> &f, int n, int slot) {
    const int quads = c.p->x_double ? n * block_quads<SPAN>() : 0;
    DD_UNROLL
    for (int k = 0; k < K; k++) {
        const int t = slot + k * c.p->threads;
        if (t < quads) write_quad(c, c.x_next, t, f.quad[k]);
    }
    if (slot < n) c.next_labels[slot] = f.label;
}

// This lane's dot products of IMAGE's pixels in its warp's span with its UPL columns of W0: one
// fused multiply-add a pixel, into four sums (pixel r into sum r % 4, so that a chain of
// dependent adds is a quarter of the span long), added up at the end.
template <int UPL, int SPAN>
DD_SIMT_FN void span_products(const fused_ctx &c, const float (&w)[UPL][SPAN], const float *image,
                              float (&out)[UPL]) {
    constexpr int V = span_vector<SPAN>();
    const float *x = image + span_offset<SPAN>(c);
    float sum[UPL][4];
    DD_UNROLL
    for (int k = 0; k < UPL; k++) sum[k][0] = sum[k][1] = sum[k][2] = sum[k][3] = 0.0f;
    DD_UNROLL
    for (int q = 0; q < SPAN / V; q++) {
        float v[V];
        load_pixels(x + V * q, v);
        DD_UNROLL
        for (int k = 0; k < UPL; k++) {
            DD_UNROLL
            for (int e = 0; e < V; e++) {
                const int r = V * q + e;
                sum[k][r % 4] = fmaf(v[e], w[k][r], sum[k][r % 4]);
            }
        }
    }
    DD_UNROLL
    for (int k = 0; k < UPL; k++) out[k] = (sum[k][0] + sum[k][2]) + (sum[k][1] + sum[k][3]);
}

// z0 (and its activation, without BN) for the N staged images X, samples B0.. of the batch.
// Rounds of plan.chunk samples: each warp leaves its partial sums in shared memory, then one thread
// per (sample, unit) adds up the warps, of every block of the cluster in the same order (so every
// block gets the same z0). Two buffers alternate (ROUND counts on through the launch), so a
// round's writes never meet the previous round's reads, in this block or another, and one
// barrier a round suffices.
template <int UPL, int SPAN>
DD_SIMT_FN void first_layer_rounds(const fused_ctx &c, const float (&w)[UPL][SPAN], const float *x,
                                   int b0, int n, int &round) {
    const dd_fused_plan &p = *c.p;
    const int u = p.units[0], width = 32 * UPL, round_floats = p.chunk * p.warps * width;
    float *z = c.acts + p.z[0], *act = c.acts + p.act[0];
    const float *bias = param(c, p.bias[0]);
    const int activate = activates_in_place(p, 0);
    const dd_activation a = activation(p, 0);
    for (int first = 0; first < n; first += p.chunk, round++) {
        const int m = n - first < p.chunk ? n - first : p.chunk;
        float *buf = c.partial + (round & 1) * round_floats;
        for (int s = 0; s < m; s++) {
            float sums[UPL];
            span_products<UPL, SPAN>(c, w, x + (first + s) * p.block_pixels, sums);
            DD_UNROLL
            for (int k = 0; k < UPL; k++)
                buf[(s * p.warps + c.warp) * width + 32 * k + c.lane] = sums[k];
        }
        cluster_sync(c);
        for (int t = c.tid; t < m * u; t += p.threads) {
            const int s = dd_fused_quotient(t, p.by_units[0]), j = t - s * u;
            const int at = (b0 + first + s) * u + j;
            float sum = 0.0f;
            // Compile-time counts (p.cluster and p.warps are the same), so that all the loads go
            // out together: from the other blocks' shared memory one trip, not one a warp.
            DD_UNROLL
            for (int rank = 0; rank < cluster_of<SPAN>(); rank++) {
                const float *from = rank == c.rank ? buf : simt_cluster_map(buf, rank);
                DD_UNROLL
                for (int k = 0; k < DD_FUSED_WARPS; k++)
                    sum += from[(s * DD_FUSED_WARPS + k) * width + j];
            }
            z[at] = sum + bias[j];
            if (activate) act[at] = dd_activate(a, z[at]);
        }
    }
}

// The first layer's forward pass over the B samples at order[FIRST ..): their images are staged
// already (x_double), or now, whole or in blocks of x_samples.
template <int UPL, int SPAN>
DD_SIMT_FN void first_layer_forward(const fused_ctx &c, const float (&w)[UPL][SPAN], int first,
                                    int B, int &round) {
    const dd_fused_plan &p = *c.p;
    for (int b0 = 0; b0 < B; b0 += p.x_samples) {
        const int n = B - b0 < p.x_samples ? B - b0 : p.x_samples;
        if (!p.x_double) {
            stage_images<SPAN>(c, c.x, first + b0, n);
            simt_sync();
        }
        first_layer_rounds<UPL, SPAN>(c, w, c.x, b0, n, round);
    }
    simt_sync();
}

// The squared norm of this thread's share of the first kernel's gradient over the N staged
// images X (samples B0..), for the diagnostics: each element g = sum over the samples of x d, a
// float sum in sample order as the reference's, squared into four double sums. A vector of
// pixels at a time (span_vector) and D's values in registers: a loop of one pixel at a time
// cost as much as the rest of a batch-1 step (bench/NOTES.md, the profile of 2026-11-27). Only
// the double sums' order differs from that loop's, which the diagnostics' tolerance allows.
template <int UPL, int SPAN>
DD_SIMT_FN double first_kernel_grad_sq(const fused_ctx &c, const float *x, const float *d, int b0,
                                       int n) {
    const int u = c.p->units[0];
    constexpr int V = span_vector<SPAN>();
    double sq[4] = {0.0, 0.0, 0.0, 0.0};
    DD_UNROLL
    for (int k = 0; k < UPL; k++) {
        const int j = 32 * k + c.lane;
        if (j >= u) continue;
        DD_UNROLL
        for (int q = 0; q < SPAN / V; q++) {
            float g[V] = {};
            for (int s = 0; s < n; s++) {
                float v[V];
                load_pixels(x + s * c.p->block_pixels + span_offset<SPAN>(c) + V * q, v);
                const float ds = d[(b0 + s) * u + j];
                DD_UNROLL
                for (int e = 0; e < V; e++) g[e] = fmaf(v[e], ds, g[e]);
            }
            DD_UNROLL
            for (int e = 0; e < V; e++) sq[(V * q + e) % 4] += (double)g[e] * g[e];
        }
    }
    return (sq[0] + sq[1]) + (sq[2] + sq[3]);
}

// The rank-1 updates of the N staged images X (samples B0..), w += (-lr d) x: the SGD step with
// its factors grouped so that each weight costs one fused multiply-add (the reference rounds x d
// first; they differ in the last bit). With DIAGNOSTICS, this block's share of the batch's
// kernel gradient (summed over the batch first, as the reference's is): its squared norm when
// the block is the whole batch, else added to the global G (784 x u) for the caller.
template <int UPL, int SPAN>
DD_SIMT_FN double first_layer_block_update(const fused_ctx &c, float (&w)[UPL][SPAN],
                                           const float *x, const float *d, int b0, int n, float lr,
                                           int diagnostics, float *G) {
    constexpr int V = span_vector<SPAN>();
    const int u = c.p->units[0];
    double sq = 0;
    if (diagnostics && !G) sq = first_kernel_grad_sq<UPL, SPAN>(c, x, d, b0, n);
    for (int k = 0; k < UPL && diagnostics && G; k++) {
        const int j = 32 * k + c.lane;
        if (j >= u) continue;
        for (int r = 0; r < SPAN; r++) {
            const int i = span_offset<SPAN>(c) + r;
            float g = 0.0f;
            for (int s = 0; s < n; s++) g += x[s * c.p->block_pixels + i] * d[(b0 + s) * u + j];
            G[(c.px0 + i) * u + j] += g;
        }
    }
    for (int s = 0; s < n; s++) {
        float step[UPL];
        DD_UNROLL
        for (int k = 0; k < UPL; k++) {
            const int j = 32 * k + c.lane;
            step[k] = j < u ? -lr * d[(b0 + s) * u + j] : 0.0f;
        }
        const float *xs = x + s * c.p->block_pixels + span_offset<SPAN>(c);
        DD_UNROLL
        for (int q = 0; q < SPAN / V; q++) {
            float v[V];
            load_pixels(xs + V * q, v);
            DD_UNROLL
            for (int k = 0; k < UPL; k++) {
                DD_UNROLL
                for (int e = 0; e < V; e++) w[k][V * q + e] = fmaf(step[k], v[e], w[k][V * q + e]);
            }
        }
    }
    return sq;
}

// The first layer's bias and kernel from dL/dz0 D for the B samples at order[FIRST ..): the
// images still staged (whole batch), or staged again block by block. Returns this thread's share
// of the kernel gradient's squared norm (with DIAGNOSTICS). With HAVE_NEXT, NEXT is the
// prefetched next batch of NEXT_B samples, written to shared memory before the closing barrier
// (a reference and a flag, not a pointer: a pointer would move NEXT to local memory).
template <int UPL, int SPAN>
DD_SIMT_FN double first_layer_update(const fused_ctx &c, float (&w)[UPL][SPAN], const float *d,
                                     int first, int B, float lr, int diagnostics,
                                     const prefetch &next, int have_next, int next_B) {
    const dd_fused_plan &p = *c.p;
    const int u = p.units[0];
    bias_update(c, param(c, p.bias[0]), d, B, u, lr);
    if (p.x_samples >= B) {
        const double sq =
            first_layer_block_update<UPL, SPAN>(c, w, c.x, d, 0, B, lr, diagnostics, NULL);
        if (have_next) prefetch_store<SPAN>(c, next, next_B, c.tid);
        simt_sync();
        return sq;
    }
    float *G = c.r->scratch + p.g_grad; // blocks: the gradient adds up in global memory
    for (int b0 = 0; b0 < B; b0 += p.x_samples) {
        const int n = B - b0 < p.x_samples ? B - b0 : p.x_samples;
        stage_images<SPAN>(c, c.x, first + b0, n);
        simt_sync();
        first_layer_block_update<UPL, SPAN>(c, w, c.x, d, b0, n, lr, diagnostics, G);
        simt_sync();
    }
    double sq = 0; // each thread reads back and clears only the entries it wrote
    for (int k = 0; k < UPL && diagnostics; k++) {
        const int j = 32 * k + c.lane;
        if (j >= u) continue;
        for (int r = 0; r < SPAN; r++) {
            float *g = G + (span_pixel<SPAN>(c) + r) * u + j;
            sq += (double)*g * *g;
            *g = 0.0f;
        }
    }
    return sq;
}

// The first kernel between global memory (PARAMS, 784 x u row-major) and this thread's registers.
template <int UPL, int SPAN>
DD_SIMT_FN void first_kernel_load(const fused_ctx &c, float (&w)[UPL][SPAN], const float *params) {
    const int u = c.p->units[0];
    DD_UNROLL
    for (int k = 0; k < UPL; k++) {
        const int j = 32 * k + c.lane;
        DD_UNROLL
        for (int r = 0; r < SPAN; r++)
            w[k][r] = j < u ? params[(span_pixel<SPAN>(c) + r) * u + j] : 0.0f;
    }
}

template <int UPL, int SPAN>
DD_SIMT_FN void first_kernel_store(const fused_ctx &c, const float (&w)[UPL][SPAN], float *params) {
    const int u = c.p->units[0];
    DD_UNROLL
    for (int k = 0; k < UPL; k++) {
        const int j = 32 * k + c.lane;
        if (j >= u) continue;
        DD_UNROLL
        for (int r = 0; r < SPAN; r++) params[(span_pixel<SPAN>(c) + r) * u + j] = w[k][r];
    }
}

#endif
