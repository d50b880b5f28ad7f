/* The broker's subscription index: exact filters in a hash, wildcard filters in a topic tree. */
#include "models/subs.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "models/topic.h"

/*
 * Layout, after Mosquitto's subscription tree (src/subs.c), with its
 * per-node child hashes folded into one table:
 *
 * - A node is a filter, or one level of a filter, shared by every
 *   subscriber to it. An exact filter (no wildcard) is one node whose level
 *   is the whole filter, a child of a root of its own: a topic finds every
 *   exact subscriber with one probe. A wildcard filter is a path from a
 *   second root, one node per level, with '+' and '#' levels as the node's
 *   plus and hash children: filters with a common prefix share its nodes.
 * - Every node but the two roots is in one open-addressing table keyed by
 *   (parent, kind, level bytes), where literal children are looked up.
 *   Wildcard children are entered too, under kinds no lookup asks for, so
 *   that freeing the index is one sweep of the table.
 * - A node's subscribers are an array of (subscriber, QoS) sorted by
 *   subscriber. A match merges the arrays of the matching nodes: that gives
 *   increasing subscriber order, and a subscriber's overlapping filters come
 *   out adjacent, to be merged at their highest QoS, with no sort and no
 *   per-subscriber mark.
 * - A subscriber's record lists the nodes it is at, so that ending its
 *   session removes its filters without searching.
 *
 * A match's working memory (the breadth-first frontier, the merge's
 * cursors, the result) is reserved as nodes and subscribers are added, so a
 * match never allocates; only a match nested in another's callback needs a
 * second result area.
 */

typedef struct {
    uint32_t sub;
    uint8_t qos;
} leaf;

enum { K_ROOT, K_LIT, K_PLUS, K_HASH };

typedef struct node node;
struct node {
    node *parent;          /* NULL for a root */
    node *plus, *hash;     /* the wildcard children */
    leaf *leaves;          /* sorted by sub, one per subscriber */
    uint64_t h;            /* table hash of (parent, kind, level) */
    uint32_t id;           /* seeds the children's hashes */
    uint32_t n_lit;        /* literal children (in the table) */
    uint32_t n_leaves, cap_leaves;
    uint16_t len;
    uint8_t kind;
    char level[];          /* len bytes, no NUL */
};

typedef struct {
    uint32_t sub;
    uint32_t n, cap;
    node **at;             /* the nodes holding sub's leaves, unordered */
} rec;

typedef struct {
    uint64_t h;
    void *p;               /* NULL: empty */
} slot;

/* Linear probing, power-of-two size, at most 3/4 full, deletion by backward
 * shift (no tombstones). */
typedef struct {
    slot *s;
    size_t mask, n;        /* size is mask + 1, or 0 with s NULL */
} table;

typedef struct {
    const leaf *p, *end;
} cursor;

struct mq_subs {
    node *exact, *tree;    /* the two roots */
    table nodes;           /* every other node */
    table recs;            /* subscriber -> rec */
    size_t n_nodes, n_subs;
    uint32_t next_id;
    node **queue;          /* frontier, room for n_nodes + 1 */
    cursor *hits;          /* matching nodes, room for n_nodes + 1 */
    leaf *out;             /* result stack, room for the subscribers at least */
    size_t cap_queue, cap_hits, cap_out, used_out;
    size_t bytes;
};

/* ---- allocation, counted ------------------------------------------------ */

static void *xrealloc(mq_subs *x, void *p, size_t old, size_t size)
{
    void *q = realloc(p, size);
    if (q)
        x->bytes = x->bytes - old + size;
    return q;
}

static void xfree(mq_subs *x, void *p, size_t size)
{
    if (!p)
        return;
    free(p);
    x->bytes -= size;
}

/* buf (of *cap elements of size el) if it holds want, or buf grown to twice
 * its size or to want (so 1, 2, 4, ... one at a time), with *cap updated; NULL (buf and *cap unchanged)
 * when out of memory. */
static void *room_for(mq_subs *x, void *buf, size_t *cap, size_t want, size_t el)
{
    if (want <= *cap)
        return buf;
    size_t n = 2 * *cap;
    if (n < want)
        n = want;
    void *p = xrealloc(x, buf, *cap * el, n * el);
    if (p)
        *cap = n;
    return p;
}

/* ---- hashing ------------------------------------------------------------ */

/* The splitmix64 finaliser: every input bit reaches every output bit. */
static uint64_t mix(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9u;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* A level's bytes, eight at a time; mixed again with the parent by
 * edge_hash, so this need not be strong on its own. Cost: O(n). */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = n * 0x9e3779b97f4a7c15u;
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 31;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
        h ^= h >> 29;
    }
    return h;
}

/* Node ids, not addresses, seed the hash: the table's layout, and so its
 * cost, is the same from run to run. */
static uint64_t edge_hash(const node *parent, int kind, uint64_t level_hash)
{
    return mix(level_hash + ((uint64_t)parent->id << 2 | (uint64_t)kind) * 0x9e3779b97f4a7c15u);
}

/* ---- the table ---------------------------------------------------------- */

/* Room for one more entry. Returns 0 or MQ_SUBS_ENOMEM (table unchanged).
 * Cost: O(1) amortised. */
static int tab_room(mq_subs *x, table *t)
{
    size_t size = t->s ? t->mask + 1 : 0;
    if (4 * (t->n + 1) <= 3 * size)
        return 0;
    size_t nsize = size ? 2 * size : 16;
    slot *ns = xrealloc(x, NULL, 0, nsize * sizeof *ns);
    if (!ns)
        return MQ_SUBS_ENOMEM;
    memset(ns, 0, nsize * sizeof *ns);
    for (size_t i = 0; i < size; i++) {
        if (!t->s[i].p)
            continue;
        size_t j = t->s[i].h & (nsize - 1);
        while (ns[j].p)
            j = (j + 1) & (nsize - 1);
        ns[j] = t->s[i];
    }
    xfree(x, t->s, size * sizeof *t->s);
    t->s = ns;
    t->mask = nsize - 1;
    return 0;
}

/* p must not be in t, and tab_room must have made room. */
static void tab_put(table *t, uint64_t h, void *p)
{
    size_t i = h & t->mask;
    while (t->s[i].p)
        i = (i + 1) & t->mask;
    t->s[i] = (slot){h, p};
    t->n++;
}

/* Removes p, entered under hash h. Moves back every later entry of the same
 * probe run that may no longer be reachable. Cost: O(run length). */
static void tab_del(table *t, uint64_t h, const void *p)
{
    size_t i = h & t->mask;
    while (t->s[i].p != p) {
        assert(t->s[i].p);
        i = (i + 1) & t->mask;
    }
    for (size_t j = i;;) {
        t->s[i].p = NULL;
        for (;;) {
            j = (j + 1) & t->mask;
            if (!t->s[j].p) {
                t->n--;
                return;
            }
            size_t home = t->s[j].h & t->mask;
            /* j stays if its home lies cyclically in (i, j] */
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays)
                break;
        }
        t->s[i] = t->s[j];
        i = j;
    }
}

/* Parent's literal child with this level, or NULL. Cost: O(len) expected. */
static node *find_lit(const mq_subs *x, const node *parent, const char *s, size_t len,
                      uint64_t level_hash)
{
    const table *t = &x->nodes;
    if (!t->s)
        return NULL;
    uint64_t h = edge_hash(parent, K_LIT, level_hash);
    for (size_t i = h & t->mask; t->s[i].p; i = (i + 1) & t->mask) {
        node *n = t->s[i].p;
        if (t->s[i].h == h && n->parent == parent && n->kind == K_LIT && n->len == len &&
            memcmp(n->level, s, len) == 0)
            return n;
    }
    return NULL;
}

static uint64_t rec_hash(uint32_t sub)
{
    return mix(sub);
}

static rec *find_rec(const mq_subs *x, uint32_t sub)
{
    const table *t = &x->recs;
    if (!t->s)
        return NULL;
    uint64_t h = rec_hash(sub);
    for (size_t i = h & t->mask; t->s[i].p; i = (i + 1) & t->mask) {
        rec *r = t->s[i].p;
        if (r->sub == sub)
            return r;
    }
    return NULL;
}

/* ---- nodes -------------------------------------------------------------- */

static node *new_node(mq_subs *x, node *parent, int kind, const char *s, size_t len,
                      uint64_t level_hash)
{
    if (tab_room(x, &x->nodes))
        return NULL;
    node *n = xrealloc(x, NULL, 0, sizeof *n + len);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->parent = parent;
    n->id = x->next_id++;
    n->kind = (uint8_t)kind;
    n->len = (uint16_t)len;
    memcpy(n->level, s, len);
    n->h = edge_hash(parent, kind, level_hash);
    tab_put(&x->nodes, n->h, n);
    if (kind == K_PLUS)
        parent->plus = n;
    else if (kind == K_HASH)
        parent->hash = n;
    else
        parent->n_lit++;
    x->n_nodes++;
    return n;
}

static void free_node(mq_subs *x, node *n)
{
    xfree(x, n->leaves, n->cap_leaves * sizeof *n->leaves);
    xfree(x, n, sizeof *n + n->len);
}

/* Frees n and then its ancestors while they hold no subscriber and no
 * child; a root stays. Cost: O(nodes freed). */
static void prune(mq_subs *x, node *n)
{
    while (n->kind != K_ROOT && !n->n_leaves && !n->n_lit && !n->plus && !n->hash) {
        node *p = n->parent;
        if (n->kind == K_PLUS)
            p->plus = NULL;
        else if (n->kind == K_HASH)
            p->hash = NULL;
        else
            p->n_lit--;
        tab_del(&x->nodes, n->h, n);
        free_node(x, n);
        x->n_nodes--;
        n = p;
    }
}

/* The child of p for one filter level, created when create is set. */
static node *child(mq_subs *x, node *p, const char *s, size_t len, bool create)
{
    int kind = K_LIT;
    uint64_t lh = 0;
    node *c;
    if (len == 1 && s[0] == '+') {
        kind = K_PLUS;
        c = p->plus;
    } else if (len == 1 && s[0] == '#') {
        kind = K_HASH;
        c = p->hash;
    } else {
        lh = hash_bytes(s, len);
        c = find_lit(x, p, s, len, lh);
    }
    if (c || !create)
        return c;
    return new_node(x, p, kind, s, len, lh);
}

/* The node of a valid filter: the exact root's child, or the end of its
 * path in the tree. With create, missing nodes are made; on out of memory
 * those made are freed again and NULL returned. Without create, NULL means
 * nobody has this filter. Cost: O(len) expected. */
static node *filter_node(mq_subs *x, const char *f, size_t len, bool create)
{
    if (!memchr(f, '+', len) && !memchr(f, '#', len))
        return child(x, x->exact, f, len, create);
    node *n = x->tree;
    for (size_t i = 0;;) {
        const char *s = f + i;
        const char *slash = memchr(s, '/', len - i);
        size_t l = slash ? (size_t)(slash - s) : len - i;
        node *c = child(x, n, s, l, create);
        if (!c) {
            if (create)
                prune(x, n);
            return NULL;
        }
        n = c;
        if (!slash)
            return n;
        i += l + 1;
    }
}

/* Where sub's leaf is, or would go, in n's sorted array. Cost: O(log n). */
static size_t leaf_pos(const node *n, uint32_t sub)
{
    size_t lo = 0, hi = n->n_leaves;
    if (hi && n->leaves[hi - 1].sub < sub)
        return hi; /* appending: the usual case when subscribers join in order */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (n->leaves[mid].sub < sub)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Removes n's leaf at i, giving back memory when the array is mostly empty.
 * Cost: O(leaves after i). */
static void drop_leaf(mq_subs *x, node *n, size_t i)
{
    memmove(n->leaves + i, n->leaves + i + 1, (n->n_leaves - i - 1) * sizeof *n->leaves);
    n->n_leaves--;
    if (n->n_leaves == 0) {
        xfree(x, n->leaves, n->cap_leaves * sizeof *n->leaves);
        n->leaves = NULL;
        n->cap_leaves = 0;
    } else if (n->cap_leaves >= 8 && n->n_leaves <= n->cap_leaves / 4) {
        size_t cap = n->cap_leaves / 2;
        leaf *p = xrealloc(x, n->leaves, n->cap_leaves * sizeof *p, cap * sizeof *p);
        if (p) { /* if not, the larger array serves as well */
            n->leaves = p;
            n->cap_leaves = (uint32_t)cap;
        }
    }
}

/* ---- subscriber records ------------------------------------------------- */

static rec *new_rec(mq_subs *x, uint32_t sub)
{
    if (tab_room(x, &x->recs))
        return NULL;
    leaf *out = room_for(x, x->out, &x->cap_out, x->recs.n + 1, sizeof *out);
    if (!out)
        return NULL;
    x->out = out;
    rec *r = xrealloc(x, NULL, 0, sizeof *r);
    if (!r)
        return NULL;
    *r = (rec){.sub = sub};
    tab_put(&x->recs, rec_hash(sub), r);
    return r;
}

static void free_rec(mq_subs *x, rec *r)
{
    tab_del(&x->recs, rec_hash(r->sub), r);
    xfree(x, r->at, r->cap * sizeof *r->at);
    xfree(x, r, sizeof *r);
}

/* Forgets that r's subscriber is at n. Cost: O(its filters). */
static void rec_forget(rec *r, const node *n)
{
    for (uint32_t i = 0; i < r->n; i++) {
        if (r->at[i] == n) {
            r->at[i] = r->at[--r->n];
            return;
        }
    }
    assert(!"subscriber record misses a node");
}

/* ---- public API --------------------------------------------------------- */

/* Cost: O(1). */
mq_subs *mq_subs_new(void)
{
    mq_subs *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->exact = calloc(1, sizeof *x->exact);
    x->tree = calloc(1, sizeof *x->tree);
    if (!x->exact || !x->tree) {
        free(x->exact);
        free(x->tree);
        free(x);
        return NULL;
    }
    x->exact->id = 0;
    x->tree->id = 1;
    x->next_id = 2;
    x->bytes = sizeof *x + 2 * sizeof(node);
    return x;
}

/* Cost: O(nodes + subscribers). */
void mq_subs_free(mq_subs *x)
{
    if (!x)
        return;
    for (size_t i = 0; x->nodes.s && i <= x->nodes.mask; i++)
        if (x->nodes.s[i].p)
            free_node(x, x->nodes.s[i].p);
    for (size_t i = 0; x->recs.s && i <= x->recs.mask; i++) {
        rec *r = x->recs.s[i].p;
        if (r) {
            free(r->at);
            free(r);
        }
    }
    free(x->nodes.s);
    free(x->recs.s);
    free(x->queue);
    free(x->hits);
    free(x->out);
    free(x->exact);
    free(x->tree);
    free(x);
}

/* Cost: O(len + log(subscribers to this filter)) expected, plus a move of
 * the leaves after sub's place when it joins the filter out of order. */
int mq_subs_add(mq_subs *x, uint32_t sub, const char *filter, size_t len, uint8_t qos)
{
    assert(filter && mq_topic_filter_valid(filter, len) && qos <= 2);
    node *n = filter_node(x, filter, len, true);
    if (!n)
        return MQ_SUBS_ENOMEM;
    size_t i = leaf_pos(n, sub);
    if (i < n->n_leaves && n->leaves[i].sub == sub) {
        n->leaves[i].qos = qos;
        return 1;
    }
    rec *r = find_rec(x, sub);
    bool made = !r;
    if (made && !(r = new_rec(x, sub)))
        goto nomem;
    size_t cap = r->cap;
    node **at = room_for(x, r->at, &cap, (size_t)r->n + 1, sizeof *at);
    if (!at)
        goto nomem;
    r->at = at;
    r->cap = (uint32_t)cap;
    /* room for one leaf first: most exact topics have one subscriber */
    cap = n->cap_leaves;
    leaf *leaves = room_for(x, n->leaves, &cap, (size_t)n->n_leaves + 1, sizeof *leaves);
    if (!leaves)
        goto nomem;
    n->leaves = leaves;
    n->cap_leaves = (uint32_t)cap;
    node **q = room_for(x, x->queue, &x->cap_queue, x->n_nodes + 1, sizeof *q);
    if (q)
        x->queue = q;
    cursor *h = room_for(x, x->hits, &x->cap_hits, x->n_nodes + 1, sizeof *h);
    if (h)
        x->hits = h;
    if (!q || !h)
        goto nomem;
    memmove(n->leaves + i + 1, n->leaves + i, (n->n_leaves - i) * sizeof *n->leaves);
    n->leaves[i] = (leaf){sub, qos};
    n->n_leaves++;
    r->at[r->n++] = n;
    x->n_subs++;
    return 0;
nomem:
    if (made && r)
        free_rec(x, r);
    prune(x, n);
    return MQ_SUBS_ENOMEM;
}

/* Cost: O(len + log(subscribers to this filter) + sub's filters) expected,
 * plus the move of the leaves after sub's. */
bool mq_subs_remove(mq_subs *x, uint32_t sub, const char *filter, size_t len)
{
    assert(filter && mq_topic_filter_valid(filter, len));
    node *n = filter_node(x, filter, len, false);
    if (!n)
        return false;
    size_t i = leaf_pos(n, sub);
    if (i == n->n_leaves || n->leaves[i].sub != sub)
        return false;
    rec *r = find_rec(x, sub);
    assert(r);
    drop_leaf(x, n, i);
    rec_forget(r, n);
    if (r->n == 0)
        free_rec(x, r);
    x->n_subs--;
    prune(x, n);
    return true;
}

/* Cost: O(sub's filters x log(subscribers per filter)), plus the moves of
 * the leaves after sub's. */
size_t mq_subs_remove_all(mq_subs *x, uint32_t sub)
{
    rec *r = find_rec(x, sub);
    if (!r)
        return 0;
    size_t k = r->n;
    for (uint32_t j = 0; j < r->n; j++) {
        node *n = r->at[j];
        size_t i = leaf_pos(n, sub);
        assert(i < n->n_leaves && n->leaves[i].sub == sub);
        drop_leaf(x, n, i);
        prune(x, n); /* frees no node still in r->at: those hold sub's leaf */
    }
    x->n_subs -= k;
    free_rec(x, r);
    return k;
}

/* A filter's text from its node: an exact node holds it whole; a tree
 * node's levels are joined with '/' from the root down. */
int mq_subs_each(const mq_subs *x, uint32_t sub, mq_subs_each_fn fn, void *ctx)
{
    const rec *r = find_rec(x, sub);
    char *buf = NULL;
    size_t cap = 0;
    for (uint32_t j = 0; r && j < r->n; j++) {
        const node *n = r->at[j];
        size_t i = leaf_pos(n, sub);
        assert(i < n->n_leaves && n->leaves[i].sub == sub);
        uint8_t qos = n->leaves[i].qos;
        if (n->parent == x->exact) {
            fn(ctx, n->level, n->len, qos);
            continue;
        }
        size_t len = 0;
        for (const node *p = n; p != x->tree; p = p->parent)
            len += p->len + (p == n ? 0u : 1u);
        if (len > cap) {
            char *nb = realloc(buf, len);
            if (!nb) {
                free(buf);
                return MQ_SUBS_ENOMEM;
            }
            buf = nb;
            cap = len;
        }
        size_t end = len;
        for (const node *p = n; p != x->tree; p = p->parent) {
            if (p != n)
                buf[--end] = '/';
            end -= p->len;
            memcpy(buf + end, p->level, p->len);
        }
        assert(end == 0);
        fn(ctx, buf, len, qos);
    }
    free(buf);
    return 0;
}

/* Restores the min-heap order of h[0..k) by subscriber below j. */
static void sift_down(cursor *h, size_t k, size_t j)
{
    for (;;) {
        size_t c = 2 * j + 1;
        if (c >= k)
            return;
        if (c + 1 < k && h[c + 1].p->sub < h[c].p->sub)
            c++;
        if (h[j].p->sub <= h[c].p->sub)
            return;
        cursor t = h[j];
        h[j] = h[c];
        h[c] = t;
        j = c;
    }
}

/* Merges k >= 2 sorted, non-empty cursors into out in subscriber order, one
 * entry per subscriber at its highest QoS, through a binary min-heap of the
 * cursors. Returns the entries written. Cost: O(leaves x log k). */
static size_t merge(cursor *h, size_t k, leaf *out)
{
    for (size_t i = k / 2; i-- > 0;)
        sift_down(h, k, i);
    size_t m = 0;
    while (k) {
        leaf e = *h[0].p++;
        if (m && out[m - 1].sub == e.sub) {
            if (e.qos > out[m - 1].qos)
                out[m - 1].qos = e.qos;
        } else {
            out[m++] = e;
        }
        if (h[0].p == h[0].end)
            h[0] = h[--k];
        sift_down(h, k, 0);
    }
    return m;
}

/* Records a matching node (a node without subscribers adds nothing). */
static void hit(mq_subs *x, size_t *k, const node *n, size_t *total)
{
    if (n->n_leaves) {
        x->hits[(*k)++] = (cursor){n->leaves, n->leaves + n->n_leaves};
        *total += n->n_leaves;
    }
}

/* Collects the matching nodes into x->hits, breadth first over the topic's
 * levels: the frontier after level i holds the tree nodes whose path
 * matches the topic's first i levels. Each node enters the frontier at most
 * once (at its depth, through its one parent), so the queue and the hits
 * fit in what mq_subs_add reserved. Returns the number of hits and adds
 * their leaves to *total. Cost: O(levels x frontier + len). */
static size_t collect(mq_subs *x, const char *topic, size_t len, size_t *total)
{
    size_t k = 0;
    if (x->exact->n_lit) {
        node *e = find_lit(x, x->exact, topic, len, hash_bytes(topic, len));
        if (e)
            hit(x, &k, e, total);
    }
    node *t = x->tree;
    if (!t->n_lit && !t->plus && !t->hash)
        return k;
    /* §4.7.2: a filter starting with a wildcard does not match "$..." */
    bool dollar = len > 0 && topic[0] == '$';
    node **q = x->queue;
    size_t qa = 0, qb = 0;
    q[qb++] = t;
    for (size_t i = 0;;) {
        const char *s = topic + i;
        const char *slash = memchr(s, '/', len - i);
        size_t l = slash ? (size_t)(slash - s) : len - i;
        bool wild = !(i == 0 && dollar);
        bool hashed = false;
        uint64_t lh = 0;
        for (size_t end = qb; qa < end; qa++) {
            node *n = q[qa];
            if (n->hash && wild) /* '#' takes this level and all below */
                hit(x, &k, n->hash, total);
            if (n->n_lit) {
                if (!hashed)
                    lh = hash_bytes(s, l), hashed = true;
                node *c = find_lit(x, n, s, l, lh);
                if (c)
                    q[qb++] = c;
            }
            if (n->plus && wild)
                q[qb++] = n->plus;
        }
        if (!slash || qa == qb)
            break;
        i += l + 1;
    }
    /* The topic is used up: the frontier's filters end here, and their '#'
     * children match the parent level ("a/#" matches "a"). If the frontier
     * emptied first, this loop has nothing to do. */
    for (; qa < qb; qa++) {
        hit(x, &k, q[qa], total);
        if (q[qa]->hash)
            hit(x, &k, q[qa]->hash, total);
    }
    return k;
}

/* The result of each match lives in x->out[used_out..) while its callbacks
 * run, so a nested match stacks its own above it; entries are read by
 * index because a nested match or a new subscriber may move the array.
 * Cost: O(levels x frontier + topic length) to find the matching filters,
 * then O(m) for m matching subscriptions when one filter matches, or
 * O(m log k) when k filters match; plus the callbacks. */
int mq_subs_match(mq_subs *x, const char *topic, size_t len, mq_subs_fn fn, void *ctx)
{
    assert(topic && fn);
    size_t total = 0;
    size_t k = collect(x, topic, len, &total);
    if (k == 0)
        return 0;
    size_t base = x->used_out;
    size_t most = total < x->recs.n ? total : x->recs.n;
    if (base + most > x->cap_out) {
        assert(base > 0); /* the outermost match has its room reserved */
        leaf *out = room_for(x, x->out, &x->cap_out, base + most, sizeof *out);
        if (!out)
            return MQ_SUBS_ENOMEM;
        x->out = out;
    }
    size_t m = total;
    if (k == 1)
        memcpy(x->out + base, x->hits[0].p, total * sizeof *x->out);
    else
        m = merge(x->hits, k, x->out + base);
    assert(m <= INT_MAX);
    x->used_out = base + m;
    for (size_t j = 0; j < m; j++) {
        leaf e = x->out[base + j];
        fn(ctx, e.sub, e.qos);
    }
    x->used_out = base;
    return (int)m;
}

size_t mq_subs_count(const mq_subs *x)
{
    return x->n_subs;
}

size_t mq_subs_subscribers(const mq_subs *x)
{
    return x->recs.n;
}

size_t mq_subs_bytes(const mq_subs *x)
{
    return x->bytes;
}
