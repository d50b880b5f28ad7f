/* The config key table: every key of an experiment config, defined once (DESIGN.md "Config"). */
#ifndef EXP_KEYS_H
#define EXP_KEYS_H

/*
 * One row per key, as Redis's config table: its dotted path ("broker.max_inflight";
 * "*" stands for an array element), its type and range, its default, a line
 * of documentation and where the loader puts it. The loader's type and range
 * checks and defaults, the --set path check, did-you-mean, the resolved-config
 * writer, `mqttsim help config` and the table in docs/config.md all read it.
 * Rules that tie keys together (a loss model's parameters, link layering,
 * role-specific keys, rto_min_ms <= rto_max_ms) are code beside it, in config.c.
 *
 * A new key is one row here plus its use. Rows keep the order in which keys
 * are listed in messages, checked and written out.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum {
    EXP_K_OBJECT,   /* keys: the rows one level below (or below `mount`) */
    EXP_K_ARRAY,    /* element: the row at path + ".*"; lo..hi elements */
    EXP_K_INT,      /* a JSON number that is an integer in [lo, hi] */
    EXP_K_NUM,      /* a finite number in [lo, hi], or (lo, hi] with EXP_F_LO_OPEN */
    EXP_K_MS,       /* milliseconds, as NUM; at least 1 ns when LO_OPEN */
    EXP_K_S,        /* seconds, likewise */
    EXP_K_BOOL,
    EXP_K_ENUM,     /* one of `names`, stored as its index */
    EXP_K_STRING,   /* checked by code in config.c (`code`) */
    EXP_K_SCHEDULE, /* [] | a list of entries (a time, or a [time, duration] pair,
                       `names` naming their fields) | an object: its random form,
                       whose keys are the rows one level below */
} exp_key_type;

/* Where the loader puts a value: a struct and an offset in it, or a slot of a
 * layer that code merges before it reaches a struct (links, tcp). */
typedef enum {
    EXP_AT_NONE,    /* objects and arrays: their keys say */
    EXP_AT_CONFIG,  /* exp_config */
    EXP_AT_CLIENT,  /* exp_client */
    EXP_AT_SUB,     /* exp_sub */
    EXP_AT_LINK,    /* a link layer's slot (exp_link_slot) */
    EXP_AT_TCP,     /* a tcp layer's slot (exp_tcp_slot), then exp_tcp at off */
} exp_key_at;

/* The C type at the offset. */
typedef enum {
    EXP_C_NONE, EXP_C_U8, EXP_C_U16, EXP_C_U32, EXP_C_I32, EXP_C_U64,
    EXP_C_DOUBLE,   /* the number as given */
    EXP_C_NS,       /* int64 nanoseconds (MS and S keys) */
    EXP_C_BOOL, EXP_C_ENUM, EXP_C_STR, EXP_C_SCHED,
} exp_key_ctype;

enum {
    EXP_F_REQUIRED = 1u << 0,   /* no default: absent is an error (`missing` says what) */
    EXP_F_PUB = 1u << 1,        /* a client key publishers take */
    EXP_F_SUB = 1u << 2,        /* a client key subscribers take */
    EXP_F_LO_OPEN = 1u << 3,    /* the range excludes lo */
    EXP_F_PENDING = 1u << 4,    /* validated, but not simulated yet: left out of the
                                   resolved config, and named in a warning when set */
    EXP_F_TOP_LINK = 1u << 5,   /* "up"/"down": only directly inside a link */
    EXP_F_DIR = 1u << 6,        /* a link direction: takes a link's keys but up/down */
    EXP_F_WRITE_LAST = 1u << 7, /* written after its siblings in the resolved config */
    EXP_F_SUB_OWN = 1u << 8,    /* written for a subscriber only when its value is not
                                   the inherited one */
    EXP_F_HAS = 1u << 9,        /* a bool at off_has says whether the key was given */
    EXP_F_NS_TOO = 1u << 10,    /* a DOUBLE time whose nanoseconds also go to off_ns */
    EXP_F_NODEF = 1u << 11,     /* no default: absent leaves it unset (or to code) */
    EXP_F_MERGE = 1u << 12,     /* SCHEDULE: overlapping windows merge (else: an error) */
    EXP_F_IF_GIVEN = 1u << 13,  /* written in the resolved config only when given */
};

/* The code in config.c that handles a key beyond what its type says. */
typedef enum {
    EXP_CODE_NONE,
    EXP_CODE_NAME,      /* STRING: a name usable as a directory name */
    EXP_CODE_TOPIC,     /* STRING: a topic name (a pattern in a count group) */
    EXP_CODE_FILTER,    /* STRING: a topic filter (likewise) */
    EXP_CODE_LINK,      /* OBJECT: a link layer, merged over the ones below it */
    EXP_CODE_TCP,       /* OBJECT: a tcp layer, merged over the top-level one */
    EXP_CODE_CLIENTS,   /* ARRAY: the clients */
    EXP_CODE_SUBSCRIBE, /* ARRAY: a subscriber's subscriptions */
    EXP_CODE_RECONNECT, /* OBJECT: initial_ms <= max_ms */
    EXP_CODE_V5_ONLY,   /* a key MQTT 3.1.1 has no place for: refused with mqtt_version 4 */
    EXP_CODE_RATE,      /* NUM: at least EXP_MIN_RATE_HZ */
} exp_key_code;

/* The slots of a link layer: one per link key that holds a value. Loss and
 * delay parameters are in the order messages list them. */
typedef enum {
    EXP_LS_MODEL,
    EXP_LS_P, EXP_LS_P_GB, EXP_LS_P_BG, EXP_LS_LOSS_GOOD, EXP_LS_LOSS_BAD,
    EXP_LS_DIST,
    EXP_LS_MS, EXP_LS_MIN_MS, EXP_LS_MAX_MS, EXP_LS_MEAN_MS, EXP_LS_SD_MS,
    EXP_LS_SCALE_MS, EXP_LS_SHAPE,
    EXP_LS_BANDWIDTH, EXP_LS_REORDER, EXP_LS_OUTAGES,
    EXP_LS_N
} exp_link_slot;

#define EXP_LS_LOSS_FIRST EXP_LS_P
#define EXP_LS_LOSS_N (EXP_LS_LOSS_BAD - EXP_LS_P + 1)
#define EXP_LS_DELAY_FIRST EXP_LS_MS
#define EXP_LS_DELAY_N (EXP_LS_SHAPE - EXP_LS_MS + 1)

/* The slots of a tcp layer. */
typedef enum {
    EXP_TS_MSS, EXP_TS_RTO_MIN, EXP_TS_RTO_MAX, EXP_TS_RTO_INITIAL, EXP_TS_RTO_FORMULA,
    EXP_TS_RETRIES2, EXP_TS_SYN_RETRIES, EXP_TS_USER_TIMEOUT, EXP_TS_DELAYED_ACK,
    EXP_TS_INITIAL_CWND,
    EXP_TS_N
} exp_tcp_slot;

typedef struct exp_key {
    const char *path;         /* "broker.max_inflight", "clients.*.subscribe.*.qos" */
    exp_key_type type;
    unsigned flags;           /* EXP_F_* */
    const char *what;         /* what a value must be: "expected <what>" in messages;
                                 also the docs' "takes" column */
    double lo, hi;            /* INT, NUM, MS, S: the range; ARRAY: element counts */
    const char *const *names; /* ENUM: its values; SCHEDULE: an entry's fields */
    double def;               /* the default (a number; a bool as 0/1; an enum's index)
                                 unless REQUIRED, NODEF, inherit or def_doc say otherwise */
    const char *def_doc;      /* the default in words, where `def` does not say it */
    const char *inherit;      /* the key whose resolved value is the default */
    const char *mount;        /* OBJECT: the object whose keys this one takes */
    const char *missing;      /* REQUIRED: what the message says was expected */
    const char *noun;         /* ARRAY: its elements, in "expected an array of 1 to 16 <noun>" */
    exp_key_at at;
    exp_key_ctype ctype;
    size_t off;               /* where the value goes in the `at` struct */
    size_t off_ns;            /* EXP_F_NS_TOO: where its nanoseconds go */
    size_t off_has;           /* EXP_F_HAS: the bool set when the key is given */
    int slot;                 /* LINK, TCP: exp_link_slot, exp_tcp_slot */
    int code;                 /* exp_key_code */
    const char *doc;          /* one line for help and docs */
} exp_key;

extern const exp_key exp_keys[];
extern const size_t exp_n_keys;

/* The row at exactly this path ("clients.*.qos"), or NULL. O(rows). */
const exp_key *exp_key_find(const char *path);

/* The last segment of a row's path: the key as it appears in JSON. */
const char *exp_key_name(const exp_key *k);

/* The keys of object (or schedule) `node` (NULL: the top level) in table
 * order, into out[0..cap); with a mount, the mounted object's keys (a
 * direction's without up/down). Returns how many (asserting they fit).
 * O(rows). */
size_t exp_key_children(const exp_key *node, const exp_key **out, size_t cap);

/* The element row of array `node`. */
const exp_key *exp_key_element(const exp_key *node);

/* The longest list of keys one object can have: the bound for callers of
 * exp_key_children. */
#define EXP_KEY_MAX_CHILDREN 48

/* Prints every key with its type, range, default and doc: as the markdown
 * table of docs/config.md (markdown) or as plain text for `mqttsim help
 * config`. */
void exp_key_print(FILE *f, bool markdown);

#endif
