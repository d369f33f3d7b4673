/* circuit.c — a small sorted table of named breakers. Each breaker's change
 * callback logs the transition and writes it to the store. */
#include "circuit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

typedef struct circuit {
    char name[64];
    breaker_t *b;
    struct circuits *owner;
} circuit_t;

struct circuits {
    store_t *store;
    circuit_t **list;
    size_t n, cap;
    circuits_change_fn observer;
    void *observer_ud;
};

static void keep(circuit_t *ci, double now) {
    breaker_saved_t saved;
    breaker_snapshot(ci->b, &saved);
    if (ci->owner->store) {
        store_breaker_t row = {
            .opened_at = saved.opened_at, .failures = saved.failures, .changed_at = now};
        snprintf(row.state, sizeof row.state, "%s", breaker_state_name(saved.state));
        if (store_breaker_put(ci->owner->store, ci->name, &row) < 0)
            log_error("breaker '%s': cannot keep its state: %s", ci->name,
                      store_errmsg(ci->owner->store));
    }
}

static void on_change(void *ud, breaker_state_t from, breaker_state_t to, double now) {
    circuit_t *ci = ud;
    log_emit(to == BREAKER_OPEN ? LOG_WARN : LOG_INFO, NULL, 0, "breaker '%s': %s -> %s", ci->name,
             breaker_state_name(from), breaker_state_name(to));
    keep(ci, now);
    if (ci->owner->observer) ci->owner->observer(ci->owner->observer_ud, ci->name, from, to, now);
}

static circuit_t *add(circuits_t *c, const char *name, const breaker_opts_t *o, char *err,
                      size_t errlen) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        circuit_t **list = realloc(c->list, cap * sizeof *list);
        if (!list) return NULL;
        c->list = list;
        c->cap = cap;
    }
    circuit_t *ci = calloc(1, sizeof *ci);
    if (!ci) return NULL;
    snprintf(ci->name, sizeof ci->name, "%s", name);
    ci->owner = c;
    if (breaker_new(&ci->b, o, err, errlen) < 0) {
        free(ci);
        return NULL;
    }
    breaker_on_change(ci->b, on_change, ci);
    /* keep the list sorted by name */
    size_t at = c->n;
    while (at > 0 && strcmp(c->list[at - 1]->name, name) > 0) at--;
    memmove(c->list + at + 1, c->list + at, (c->n - at) * sizeof *c->list);
    c->list[at] = ci;
    c->n++;
    return ci;
}

static circuit_t *find(circuits_t *c, const char *name) {
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(name, c->list[mid]->name);
        if (cmp == 0) return c->list[mid];
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static void restore(circuits_t *c, circuit_t *ci, double now) {
    store_breaker_t row;
    if (!c->store || store_breaker_get(c->store, ci->name, &row) != 0) return;
    breaker_saved_t saved = {.opened_at = row.opened_at, .failures = row.failures};
    saved.state = strcmp(row.state, "open") == 0        ? BREAKER_OPEN
                  : strcmp(row.state, "half_open") == 0 ? BREAKER_HALF_OPEN
                                                        : BREAKER_CLOSED;
    if (breaker_restore(ci->b, &saved, now) == 0 && saved.state != BREAKER_CLOSED)
        log_warn("breaker '%s' is %s (kept from before the restart)", ci->name, row.state);
}

int circuits_new(circuits_t **out, const conf_t *conf, store_t *store, double now, char *err,
                 size_t errlen) {
    circuits_t *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c) return -ENOMEM;
    c->store = store;
    for (int i = 0; i < conf->nbreakers; i++) {
        breaker_opts_t o;
        char why[256] = "";
        conf_breaker_opts(&conf->breakers[i], &o);
        circuit_t *ci = add(c, conf->breakers[i].name, &o, why, sizeof why);
        if (!ci) {
            snprintf(err, errlen, "breakers.%s: %s", conf->breakers[i].name,
                     why[0] ? why : "out of memory");
            circuits_free(c);
            return why[0] ? -EINVAL : -ENOMEM;
        }
        restore(c, ci, now);
    }
    *out = c;
    return 0;
}

breaker_t *circuits_get(circuits_t *c, const char *name, const breaker_opts_t *opts, double now) {
    circuit_t *ci = find(c, name);
    if (ci) return ci->b;
    breaker_opts_t o;
    char err[256];
    if (opts)
        o = *opts;
    else
        breaker_opts_default(&o);
    ci = add(c, name, &o, err, sizeof err);
    if (!ci && opts) { /* bad script options: fall back to the defaults */
        log_warn("breaker '%s': %s; using the defaults", name, err);
        breaker_opts_default(&o);
        ci = add(c, name, &o, err, sizeof err);
    }
    if (ci) restore(c, ci, now);
    return ci ? ci->b : NULL;
}

void circuits_each(circuits_t *c, void (*fn)(void *ud, const char *name, breaker_t *b), void *ud) {
    for (size_t i = 0; i < c->n; i++) fn(ud, c->list[i]->name, c->list[i]->b);
}

void circuits_observe(circuits_t *c, circuits_change_fn fn, void *ud) {
    c->observer = fn;
    c->observer_ud = ud;
}

breaker_t *circuits_find(circuits_t *c, const char *name) {
    circuit_t *ci = find(c, name);
    return ci ? ci->b : NULL;
}

int circuits_reset(circuits_t *c, const char *name, double now) {
    circuit_t *ci = find(c, name);
    if (!ci) return -ENOENT;
    breaker_reset(ci->b, now);
    keep(ci, now); /* the counters were cleared after the change was kept */
    log_info("breaker '%s': reset", ci->name);
    return 0;
}

void circuits_free(circuits_t *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) {
        breaker_free(c->list[i]->b);
        free(c->list[i]);
    }
    free(c->list);
    free(c);
}
