#include "adarank/version.h"

const char *ar_version(void)
{
    return ADARANK_VERSION;
}
