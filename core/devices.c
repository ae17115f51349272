/* Enumerating OpenCL platforms and devices, and choosing one. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The ICD loader returns this when no platform is installed (cl_khr_icd, CL/cl_ext.h). */
#define AR__CL_PLATFORM_NOT_FOUND_KHR (-1001)

const char *ar_device_type_name(enum ar_device_type type)
{
    switch (type) {
    case AR_DEVICE_TYPE_CPU:
        return "CPU";
    case AR_DEVICE_TYPE_GPU:
        return "GPU";
    case AR_DEVICE_TYPE_ACCELERATOR:
        return "accelerator";
    default:
        return "other";
    }
}

static void device_string(cl_device_id dev, cl_device_info what, char *out, size_t size)
{
    out[0] = '\0';
    if (clGetDeviceInfo(dev, what, size, out, NULL) != CL_SUCCESS)
        snprintf(out, size, "?");
    out[size - 1] = '\0';
}

static bool has_extension(cl_device_id dev, const char *name)
{
    size_t len = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, 0, NULL, &len) != CL_SUCCESS || len == 0)
        return false;
    char *ext = malloc(len + 1);
    if (!ext)
        return false;
    bool found = false;
    if (clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, len, ext, NULL) == CL_SUCCESS) {
        ext[len] = '\0';
        /* Whole-word match: "cl_khr_fp64" must not match "cl_khr_fp64_foo". */
        size_t n = strlen(name);
        for (const char *p = strstr(ext, name); p; p = strstr(p + 1, name)) {
            bool start_ok = p == ext || p[-1] == ' ';
            bool end_ok = p[n] == '\0' || p[n] == ' ';
            if (start_ok && end_ok) {
                found = true;
                break;
            }
        }
    }
    free(ext);
    return found;
}

static void describe_device(cl_device_id dev, struct ar_device_info *info)
{
    device_string(dev, CL_DEVICE_NAME, info->name, sizeof info->name);
    device_string(dev, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    device_string(dev, CL_DEVICE_VERSION, info->version, sizeof info->version);
    device_string(dev, CL_DEVICE_OPENCL_C_VERSION, info->c_version, sizeof info->c_version);
    device_string(dev, CL_DRIVER_VERSION, info->driver, sizeof info->driver);

    cl_device_type type = 0;
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->type = (type & CL_DEVICE_TYPE_GPU)           ? AR_DEVICE_TYPE_GPU
                 : (type & CL_DEVICE_TYPE_CPU)         ? AR_DEVICE_TYPE_CPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? AR_DEVICE_TYPE_ACCELERATOR
                                                       : AR_DEVICE_TYPE_OTHER;
    cl_uint cu = 0;
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    info->compute_units = cu;
    cl_ulong v = 0;
    clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof v, &v, NULL);
    info->global_mem_bytes = v;
    v = 0;
    clGetDeviceInfo(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof v, &v, NULL);
    info->max_alloc_bytes = v;
    v = 0;
    clGetDeviceInfo(dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof v, &v, NULL);
    info->local_mem_bytes = v;
    size_t wg = 0;
    clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    info->max_work_group_size = wg;
    info->fp16 = has_extension(dev, "cl_khr_fp16");
    info->fp64 = has_extension(dev, "cl_khr_fp64");
}

/* Calls fn(platform, device, info) for every device; stops early when fn returns false. */
static enum ar_status each_device(char *err, size_t err_size,
                                  bool (*fn)(cl_platform_id, cl_device_id,
                                             const struct ar_device_info *, void *),
                                  void *user)
{
    cl_uint nplat = 0;
    cl_int rc = clGetPlatformIDs(0, NULL, &nplat);
    if (rc == AR__CL_PLATFORM_NOT_FOUND_KHR || (rc == CL_SUCCESS && nplat == 0))
        return AR_STATUS_OK; /* no ICD installed: zero devices */
    if (rc != CL_SUCCESS) {
        snprintf(err, err_size, "clGetPlatformIDs: %s (%d)", ar__cl_error_name(rc), (int)rc);
        return AR_STATUS_OPENCL;
    }
    cl_platform_id *plats = calloc(nplat, sizeof *plats);
    if (!plats)
        return AR_STATUS_OUT_OF_MEMORY;
    clGetPlatformIDs(nplat, plats, NULL);
    int index = 0;
    bool go_on = true;
    for (cl_uint p = 0; p < nplat && go_on; p++) {
        char pname[128] = "?";
        clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL);
        pname[sizeof pname - 1] = '\0';
        cl_uint ndev = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &ndev) != CL_SUCCESS)
            continue; /* a platform without devices reports CL_DEVICE_NOT_FOUND */
        cl_device_id *devs = calloc(ndev, sizeof *devs);
        if (!devs) {
            free(plats);
            return AR_STATUS_OUT_OF_MEMORY;
        }
        clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, ndev, devs, NULL);
        for (cl_uint d = 0; d < ndev && go_on; d++) {
            struct ar_device_info info = {0};
            info.index = index++;
            info.platform_index = (int)p;
            snprintf(info.platform_name, sizeof info.platform_name, "%s", pname);
            describe_device(devs[d], &info);
            go_on = fn(plats[p], devs[d], &info, user);
        }
        free(devs);
    }
    free(plats);
    return AR_STATUS_OK;
}

struct list_acc {
    struct ar_device_info *items;
    int count, cap;
    bool oom;
};

static bool list_add(cl_platform_id p, cl_device_id d, const struct ar_device_info *info,
                     void *user)
{
    (void)p, (void)d;
    struct list_acc *acc = user;
    if (acc->count == acc->cap) {
        int cap = acc->cap ? acc->cap * 2 : 8;
        struct ar_device_info *grown = realloc(acc->items, (size_t)cap * sizeof *grown);
        if (!grown) {
            acc->oom = true;
            return false;
        }
        acc->items = grown;
        acc->cap = cap;
    }
    acc->items[acc->count++] = *info;
    return true;
}

enum ar_status ar_device_list(struct ar_device_info **out, int *count, char *err, size_t err_size)
{
    struct list_acc acc = {0};
    *out = NULL;
    *count = 0;
    enum ar_status st = each_device(err, err_size, list_add, &acc);
    if (st == AR_STATUS_OK && acc.oom)
        st = AR_STATUS_OUT_OF_MEMORY;
    if (st != AR_STATUS_OK) {
        free(acc.items);
        return st;
    }
    *out = acc.items;
    *count = acc.count;
    return AR_STATUS_OK;
}

static bool contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

int ar_device_select(const struct ar_device_info *list, int count, const char *selector, char *err,
                     size_t err_size)
{
    if (count <= 0) {
        snprintf(err, err_size,
                 "no OpenCL device found: install an OpenCL driver (e.g. pocl-opencl-icd) and check "
                 "`clinfo -l`");
        return -1;
    }
    if (!selector || !*selector) {
        for (int i = 0; i < count; i++)
            if (list[i].type == AR_DEVICE_TYPE_GPU)
                return i;
        return 0;
    }
    char *end = NULL;
    long idx = strtol(selector, &end, 10);
    if (end != selector && *end == '\0') {
        if (idx >= 0 && idx < count)
            return (int)idx;
        snprintf(err, err_size, "device index %ld does not exist: there %s %d device%s (0..%d); "
                 "see `adarank-cl devices`", idx, count == 1 ? "is" : "are", count,
                 count == 1 ? "" : "s", count - 1);
        return -1;
    }
    for (int i = 0; i < count; i++) {
        char full[300];
        snprintf(full, sizeof full, "%s / %s", list[i].platform_name, list[i].name);
        if (contains_nocase(full, selector))
            return i;
    }
    int used = snprintf(err, err_size, "no device matches \"%s\"; devices:", selector);
    for (int i = 0; i < count && used > 0 && (size_t)used < err_size; i++)
        used += snprintf(err + used, err_size - (size_t)used, " [%d] %s / %s;", i,
                         list[i].platform_name, list[i].name);
    return -1;
}

/* Used by context.c: the cl ids of list entry `index`. */
struct find_acc {
    int want;
    cl_platform_id platform;
    cl_device_id device;
    bool found;
};

static bool find_one(cl_platform_id p, cl_device_id d, const struct ar_device_info *info,
                     void *user)
{
    struct find_acc *acc = user;
    if (info->index != acc->want)
        return true;
    acc->platform = p;
    acc->device = d;
    acc->found = true;
    return false;
}

enum ar_status ar__device_ids(int index, cl_platform_id *platform, cl_device_id *device, char *err,
                              size_t err_size)
{
    struct find_acc acc = {.want = index};
    enum ar_status st = each_device(err, err_size, find_one, &acc);
    if (st != AR_STATUS_OK)
        return st;
    if (!acc.found) {
        snprintf(err, err_size, "device %d disappeared while opening it", index);
        return AR_STATUS_NO_DEVICE;
    }
    *platform = acc.platform;
    *device = acc.device;
    return AR_STATUS_OK;
}
