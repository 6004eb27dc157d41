#include <stdio.h>
int main(void)
{
    puts("massaged " MASSAGED_VERSION);
    return 0;
}
