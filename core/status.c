#include "adarank/status.h"

static const char *const status_names[] = {
#define AR_STATUS_NAME(name, msg) #name,
    AR_STATUS_TABLE(AR_STATUS_NAME)
#undef AR_STATUS_NAME
};

static const char *const status_messages[] = {
#define AR_STATUS_MESSAGE(name, msg) msg,
    AR_STATUS_TABLE(AR_STATUS_MESSAGE)
#undef AR_STATUS_MESSAGE
};

const char *ar_status_name(enum ar_status status)
{
    if ((unsigned)status >= AR_STATUS_COUNT)
        return "UNKNOWN";
    return status_names[status];
}

const char *ar_status_message(enum ar_status status)
{
    if ((unsigned)status >= AR_STATUS_COUNT)
        return "unknown status";
    return status_messages[status];
}
