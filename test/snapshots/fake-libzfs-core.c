/*
 * A recording stand-in for libzfs_core + libnvpair, built by test/snapshots/zfs.test.ts: the same
 * C entry points the native core dlopens (libzfs_core_init, lzc_snapshot, lzc_destroy_snaps and
 * the nvlist calls it uses), with the same argument conventions. Every call is appended to
 * $FAKE_LZC_LOG. A snapshot name containing "@busy" fails with EEXIST in the error list, as
 * lzc_snapshot reports an existing snapshot; $FAKE_LZC_NO_DEV makes init fail like a host
 * without /dev/zfs. No ZFS is involved.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct nvpair { char *name; int value; } nvpair_t;
typedef struct nvlist { nvpair_t *pairs; int n; } nvlist_t;

static void record(const char *what, nvlist_t *list, const char *extra) {
    const char *file = getenv("FAKE_LZC_LOG");
    if (!file) return;
    FILE *f = fopen(file, "a");
    if (!f) return;
    fprintf(f, "%s", what);
    for (int i = 0; list && i < list->n; i++) fprintf(f, " %s", list->pairs[i].name);
    if (extra) fprintf(f, " %s", extra);
    fprintf(f, "\n");
    fclose(f);
}

int nvlist_alloc(nvlist_t **out, unsigned flags, int kmflag) {
    (void)kmflag;
    if (flags != 1) return EINVAL; /* NV_UNIQUE_NAME */
    *out = calloc(1, sizeof(nvlist_t));
    return *out ? 0 : ENOMEM;
}

static int add(nvlist_t *list, const char *name, int value) {
    nvpair_t *grown = realloc(list->pairs, (size_t)(list->n + 1) * sizeof(nvpair_t));
    if (!grown) return ENOMEM;
    list->pairs = grown;
    list->pairs[list->n].name = strdup(name);
    list->pairs[list->n].value = value;
    list->n++;
    return 0;
}

int nvlist_add_boolean(nvlist_t *list, const char *name) { return add(list, name, 0); }

void nvlist_free(nvlist_t *list) {
    if (!list) return;
    for (int i = 0; i < list->n; i++) free(list->pairs[i].name);
    free(list->pairs);
    free(list);
}

nvpair_t *nvlist_next_nvpair(nvlist_t *list, nvpair_t *previous) {
    if (!list || list->n == 0) return NULL;
    if (!previous) return &list->pairs[0];
    long next = (previous - list->pairs) + 1;
    return next < list->n ? &list->pairs[next] : NULL;
}

char *nvpair_name(nvpair_t *pair) { return pair->name; }

int nvpair_value_int32(nvpair_t *pair, int *value) {
    *value = pair->value;
    return 0;
}

int libzfs_core_init(void) {
    if (getenv("FAKE_LZC_NO_DEV")) return ENOENT;
    record("init", NULL, NULL);
    return 0;
}

int lzc_snapshot(nvlist_t *snaps, nvlist_t *props, nvlist_t **errlist) {
    record("snapshot", snaps, props ? "props" : NULL);
    int failed = 0;
    for (int i = 0; i < snaps->n; i++) {
        if (strstr(snaps->pairs[i].name, "@busy")) {
            if (!*errlist && nvlist_alloc(errlist, 1, 0) != 0) return ENOMEM;
            add(*errlist, snaps->pairs[i].name, EEXIST);
            failed = EEXIST;
        }
    }
    return failed;
}

int lzc_destroy_snaps(nvlist_t *snaps, int defer, nvlist_t **errlist) {
    (void)errlist;
    record("destroy", snaps, defer ? "defer" : NULL);
    return 0;
}
