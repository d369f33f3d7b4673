/* fixture_backend.h — baton test --browser real: another backend (the pool)
 * behind the same operations table, its pages' requests answered from the
 * fake's fixtures (nothing real is reached) and its calls recorded and
 * failed as the fake records and fails its own. */
#ifndef BATON_FIXTURE_BACKEND_H
#define BATON_FIXTURE_BACKEND_H

#include "backend.h"
#include "fake.h"

/* Lives where its owner puts it, as long as every page using it. */
typedef struct fixture_backend {
    browser_backend_t inner; /* the real browser */
    fake_t *fake;            /* its fixtures, failures and record */
} fixture_backend_t;

/* Sets fb up over inner and fake and fills *out with its table. */
void fixture_backend_init(fixture_backend_t *fb, const browser_backend_t *inner, fake_t *fake,
                          browser_backend_t *out);

#endif
