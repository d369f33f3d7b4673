/* cron.c — cron expressions: the parser (fields into bit sets) and cron_next,
 * which searches wall-clock time field by field, skipping whole months, days,
 * hours and minutes that cannot match, then maps the wall time to an instant. */
#include "cron.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* How far cron_next looks ahead: long enough for the next Feb 29 (2096 -> 2104). */
#define CRON_SEARCH_YEARS 8

/* Bounds on `after` (~year 5100); beyond them cron_next returns -1. */
#define CRON_MAX_EPOCH 1e11

/* Tokens are quoted in errors up to this many characters. */
#define CRON_TOKEN_MAX 40

typedef struct cron_field {
    const char *name;
    int lo, hi;               /* values accepted as written */
    int star_hi;              /* the top of '*' and of "N/step" */
    const char *const *names; /* three-letter names, or NULL */
    int name_base;            /* the value of names[0] */
} cron_field_t;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_COUNT };

static const cron_field_t fields[F_COUNT] = {
    {"second", 0, 59, 59, NULL, 0},
    {"minute", 0, 59, 59, NULL, 0},
    {"hour", 0, 23, 23, NULL, 0},
    {"day-of-month", 1, 31, 31, NULL, 0},
    {"month", 1, 12, 12, month_names, 1},
    {"day-of-week", 0, 7, 6, dow_names, 0}, /* 7 is Sunday too */
};

static const struct {
    const char *name;
    const char *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static int tok_len(size_t len) { return len > CRON_TOKEN_MAX ? CRON_TOKEN_MAX : (int)len; }

static int is_alnum(char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Reads one value (a number or a name) from [s, end) into *v; *next is where it stopped. */
static int parse_value(const cron_field_t *f, const char *s, const char *end, int *v,
                       const char **next, const char *item, int item_len, char *err,
                       size_t errlen) {
    const char *p = s;
    int digits = 0, letters = 0;
    while (p < end && is_alnum(*p)) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else
            letters++;
        p++;
    }
    size_t n = (size_t)(p - s);
    if (n == 0)
        return fail(err, errlen, "cron field '%s': bad value '%.*s'", f->name, item_len, item);
    if (letters == 0) {
        int x = 0;
        for (const char *q = s; q < p && x <= 1000; q++) x = x * 10 + (*q - '0');
        if (x < f->lo || x > f->hi)
            return fail(err, errlen, "cron field '%s': %.*s out of range %d-%d", f->name,
                        tok_len(n), s, f->lo, f->hi);
        *v = x;
    } else if (digits == 0 && f->names) {
        int i;
        for (i = 0; f->names[i]; i++)
            if (n == 3 && strncasecmp(s, f->names[i], 3) == 0) break;
        if (!f->names[i])
            return fail(err, errlen, "cron field '%s': unknown name '%.*s'", f->name, tok_len(n),
                        s);
        *v = f->name_base + i;
    } else {
        return fail(err, errlen, "cron field '%s': bad value '%.*s'", f->name, tok_len(n), s);
    }
    *next = p;
    return 0;
}

/* Parses one list item "*", "?", "v", "a-b", each optionally "/step", into *bits. */
static int parse_item(const cron_field_t *f, int day_field, const char *s, const char *end,
                      uint64_t *bits, char *err, size_t errlen) {
    const char *slash = memchr(s, '/', (size_t)(end - s));
    const char *base_end = slash ? slash : end;
    int lo, hi, step = 1, rc;
    int len = tok_len((size_t)(end - s));

    if (base_end - s == 1 && (*s == '*' || (*s == '?' && day_field))) {
        lo = f->lo;
        hi = f->star_hi;
    } else {
        const char *p;
        if ((rc = parse_value(f, s, base_end, &lo, &p, s, len, err, errlen)) < 0) return rc;
        hi = lo;
        if (p < base_end && *p == '-') {
            rc = parse_value(f, p + 1, base_end, &hi, &p, s, len, err, errlen);
            if (rc < 0) return rc;
            if (lo > hi)
                return fail(err, errlen, "cron field '%s': range '%.*s' is backwards", f->name,
                            tok_len((size_t)(base_end - s)), s);
        } else if (slash) {
            hi = f->star_hi; /* "5/15": from 5 to the top of the field */
        }
        if (p != base_end)
            return fail(err, errlen, "cron field '%s': bad value '%.*s'", f->name, len, s);
    }
    if (slash) {
        int span = f->star_hi - f->lo + 1, digits = 0;
        step = 0;
        for (const char *q = slash + 1; q < end; q++, digits++) {
            if (*q < '0' || *q > '9')
                return fail(err, errlen, "cron field '%s': bad step in '%.*s'", f->name, len, s);
            if (step <= 1000) step = step * 10 + (*q - '0');
        }
        if (digits == 0)
            return fail(err, errlen, "cron field '%s': bad step in '%.*s'", f->name, len, s);
        if (step < 1 || step > span)
            return fail(err, errlen, "cron field '%s': step %.*s out of range 1-%d", f->name,
                        tok_len((size_t)(end - slash - 1)), slash + 1, span);
    }
    for (int v = lo; v <= hi; v += step) *bits |= (uint64_t)1 << v;
    return 0;
}

/* Parses one whole field (a comma list) into *bits; *star is Vixie's "field begins with
 * '*'" flag (or the field is '?'). */
static int parse_field(int which, const char *s, size_t n, uint64_t *bits, int *star, char *err,
                       size_t errlen) {
    const cron_field_t *f = &fields[which];
    const char *end = s + n, *item = s;
    int day_field = which == F_DOM || which == F_DOW, rc;

    *bits = 0;
    *star = s[0] == '*' || (day_field && n == 1 && s[0] == '?');
    for (;;) {
        const char *comma = memchr(item, ',', (size_t)(end - item));
        const char *item_end = comma ? comma : end;
        if (item_end == item)
            return fail(err, errlen, "cron field '%s': empty list item in '%.*s'", f->name,
                        tok_len(n), s);
        if ((rc = parse_item(f, day_field, item, item_end, bits, err, errlen)) < 0) return rc;
        if (!comma) break;
        item = comma + 1;
    }
    if (which == F_DOW && (*bits & (1u << 7))) *bits = (*bits & ~(uint64_t)(1u << 7)) | 1u;
    return 0;
}

static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

/* Day-field rule, as Vixie cron's entry.c and cron.c do it: a field counts as
 * unrestricted ("star") when its text begins with '*' -- so "*" and "*" + "/2" both
 * do -- or is '?'. When either day field is a star a day must match both (the
 * star side matches its whole range anyway); when both are restricted, either. */
int cron_parse(cron_t *c, const char *expr, char *err, size_t errlen) {
    const char *tok[6];
    size_t len[6];
    int ntok = 0, rc;
    const char *p = expr ? expr : "";

    if (err && errlen) err[0] = '\0';
    for (;;) {
        while (is_space(*p)) p++;
        if (!*p) break;
        const char *start = p;
        while (*p && !is_space(*p)) p++;
        if (ntok < 6) {
            tok[ntok] = start;
            len[ntok] = (size_t)(p - start);
        }
        ntok++;
    }
    if (ntok == 0) return fail(err, errlen, "cron: empty expression");
    if (tok[0][0] == '@') {
        if (ntok != 1)
            return fail(err, errlen, "cron: macro '%.*s' takes no other fields", tok_len(len[0]),
                        tok[0]);
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
            if (strlen(macros[i].name) == len[0] &&
                strncasecmp(tok[0], macros[i].name, len[0]) == 0)
                return cron_parse(c, macros[i].expr, err, errlen);
        return fail(err, errlen, "cron: unknown macro '%.*s'", tok_len(len[0]), tok[0]);
    }
    if (ntok != 5 && ntok != 6)
        return fail(err, errlen, "cron: expected 5 or 6 fields, got %d", ntok);

    cron_t out;
    memset(&out, 0, sizeof out); /* padding too: parsed expressions compare with memcmp */
    uint64_t bits[F_COUNT];
    int star[F_COUNT] = {0};
    int first = ntok == 6 ? F_SEC : F_MIN;
    bits[F_SEC] = 1; /* 5 fields: second 0 */
    for (int i = first; i < F_COUNT; i++) {
        int t = i - first;
        if ((rc = parse_field(i, tok[t], len[t], &bits[i], &star[i], err, errlen)) < 0) return rc;
    }
    out.sec = bits[F_SEC];
    out.min = bits[F_MIN];
    out.hour = (uint32_t)bits[F_HOUR];
    out.dom = (uint32_t)bits[F_DOM];
    out.mon = (uint16_t)bits[F_MON];
    out.dow = (uint8_t)bits[F_DOW];
    out.dom_any = (uint8_t)star[F_DOM];
    out.dow_any = (uint8_t)star[F_DOW];
    memcpy(c, &out, sizeof out);
    return 0;
}

/* ---- next start ---------------------------------------------------------- */

/* A local wall-clock time; as "wall seconds" it is counted like UTC epoch seconds. */
typedef struct cron_wall {
    int y, mo, d, h, mi, s;
} cron_wall_t;

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, cron_wall_t *w) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    w->d = (int)(doy - (153 * mp + 2) / 5 + 1);
    w->mo = (int)(mp < 10 ? mp + 3 : mp - 9);
    w->y = (int)(yoe + era * 400 + (w->mo <= 2));
}

static int64_t wall_seconds(const cron_wall_t *w) {
    return days_from_civil(w->y, w->mo, w->d) * 86400 + w->h * 3600 + w->mi * 60 + w->s;
}

static void wall_from_seconds(int64_t ws, cron_wall_t *w) {
    int64_t days = (ws >= 0 ? ws : ws - 86399) / 86400, rem = ws - days * 86400;
    civil_from_days(days, w);
    w->h = (int)(rem / 3600);
    w->mi = (int)(rem / 60 % 60);
    w->s = (int)(rem % 60);
}

/* The local UTC offset in effect at instant t, in seconds; 0 on success. */
static int offset_at(int64_t t, int64_t *off) {
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm)) return -1;
    cron_wall_t w = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour,        tm.tm_min,     tm.tm_sec};
    *off = wall_seconds(&w) - t;
    return 0;
}

static int days_in_month(int y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : days[m - 1];
}

/* The lowest set bit of mask at or above `from`, or -1. */
static int next_bit(uint64_t mask, int from) {
    if (from >= 64) return -1;
    mask >>= from;
    return mask ? from + __builtin_ctzll(mask) : -1;
}

static int day_matches(const cron_t *c, int y, int m, int d) {
    int64_t days = days_from_civil(y, m, d);
    int wday = (int)(((days + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
    int dom = (c->dom >> d) & 1, dow = (c->dow >> wday) & 1;
    return c->dom_any || c->dow_any ? dom && dow : dom || dow;
}

/* Moves *w to the first matching wall time at or after it, no later than year ylimit.
 * Each mismatch jumps to the next candidate of that field and zeroes the ones below,
 * so the cost is a few steps per field rather than one per second. */
static int find_wall(const cron_t *c, cron_wall_t *w, int ylimit) {
    for (;;) {
        if (w->y > ylimit) return -1;
        int v = next_bit(c->mon, w->mo);
        if (v < 0) {
            *w = (cron_wall_t){w->y + 1, 1, 1, 0, 0, 0};
            continue;
        }
        if (v != w->mo) *w = (cron_wall_t){w->y, v, 1, 0, 0, 0};
        int dim = days_in_month(w->y, w->mo), d = w->d;
        while (d <= dim && !day_matches(c, w->y, w->mo, d)) d++;
        if (d > dim) {
            *w = (cron_wall_t){w->y, w->mo + 1, 1, 0, 0, 0};
            continue;
        }
        if (d != w->d) *w = (cron_wall_t){w->y, w->mo, d, 0, 0, 0};
        if ((v = next_bit(c->hour, w->h)) < 0) {
            *w = (cron_wall_t){w->y, w->mo, w->d + 1, 0, 0, 0};
            continue;
        }
        if (v != w->h) *w = (cron_wall_t){w->y, w->mo, w->d, v, 0, 0};
        if ((v = next_bit(c->min, w->mi)) < 0) {
            *w = (cron_wall_t){w->y, w->mo, w->d, w->h + 1, 0, 0};
            continue;
        }
        if (v != w->mi) *w = (cron_wall_t){w->y, w->mo, w->d, w->h, v, 0};
        if ((v = next_bit(c->sec, w->s)) < 0) {
            *w = (cron_wall_t){w->y, w->mo, w->d, w->h, w->mi + 1, 0};
            continue;
        }
        w->s = v;
        return 0;
    }
}

/* The first instant in (lo, hi] whose UTC offset differs from lo's, by bisection; or
 * hi + 1 when lo and hi share an offset. */
static int64_t next_transition(int64_t lo, int64_t hi) {
    int64_t olo, o;
    if (offset_at(lo, &olo) < 0 || offset_at(hi, &o) < 0 || o == olo) return hi + 1;
    while (hi - lo > 1) { /* invariant: offset(lo) == olo, offset(hi) != olo */
        int64_t mid = lo + (hi - lo) / 2;
        if (offset_at(mid, &o) < 0) return hi + 1;
        if (o == olo)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

/* Maps wall time ws to its first instant *t (with *off the offset there) and returns 0,
 * or returns 1 when ws falls in a gap skipped by a forward change. Offsets are sampled
 * a day either side, so one transition within that window is handled exactly. */
static int resolve(int64_t ws, int64_t *t, int64_t *off) {
    int64_t cand[2], o;
    int found = 0;
    if (offset_at(ws - 86400, &cand[0]) < 0 || offset_at(ws + 86400, &cand[1]) < 0) return -1;
    for (int i = 0; i < 2; i++) {
        if (i == 1 && cand[1] == cand[0]) break;
        if (offset_at(ws - cand[i], &o) < 0) return -1;
        if (o != cand[i]) continue;
        if (!found || ws - o < *t) {
            *t = ws - o;
            *off = o;
        }
        found = 1;
    }
    return found ? 0 : 1;
}

/* The wall time just past a change of offset in (lo, hi], at least floor_ws. With
 * before = 0 it is the clock right after the change (where a gap ends); with before = 1
 * it is one past the clock right before it (where a repeated stretch ends). */
static int64_t wall_past_transition(int64_t lo, int64_t hi, int before, int64_t floor_ws) {
    int64_t tr = next_transition(lo, hi), o;
    if (tr > hi || offset_at(before ? tr - 1 : tr, &o) < 0) return floor_ws;
    int64_t ws = tr + o;
    return ws > floor_ws ? ws : floor_ws;
}

double cron_next(const cron_t *c, double after) {
    if (!isfinite(after) || fabs(after) > CRON_MAX_EPOCH) return -1;
    int64_t a = (int64_t)floor(after), off, t = 0;
    if (offset_at(a, &off) < 0) return -1;
    int64_t from = a + off + 1;
    cron_wall_t w;
    wall_from_seconds(from, &w);
    int ylimit = w.y + CRON_SEARCH_YEARS;

    /* Each pass either returns or jumps past a gap or a repeated stretch; a few suffice,
     * the bound only guards against a pathological zone table. */
    for (int pass = 0; pass < 64; pass++) {
        wall_from_seconds(from, &w);
        if (find_wall(c, &w, ylimit) < 0) return -1;
        int64_t ws = wall_seconds(&w);
        int rc = resolve(ws, &t, &off);
        if (rc < 0) return -1;
        if (rc == 1) {
            /* Skipped by a forward change: does not fire; resume where the gap ends.
             * The transition lies between the instants ws maps to under either offset. */
            int64_t o1, o2;
            if (offset_at(ws - 86400, &o1) < 0 || offset_at(ws + 86400, &o2) < 0) return -1;
            from =
                wall_past_transition(ws - (o1 > o2 ? o1 : o2), ws - (o1 > o2 ? o2 : o1), 0, ws + 1);
            continue;
        }
        if (t <= a) {
            /* A repeated wall time whose first occurrence is already past (`after` is in
             * the repeat): so is every wall time of the repeat; resume where it ends. The
             * change back lies in (t, a]. */
            from = wall_past_transition(t, a, 1, ws + 1);
            continue;
        }
        return (double)t;
    }
    return -1;
}
