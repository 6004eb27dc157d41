#include "check.h"
#include "config.h"
int main(void)
{
    return CHECK_DONE();
}
