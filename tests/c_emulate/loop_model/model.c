/* K rounds of a multiply-xorshift hash: a data-dependent chain the compiler can neither fold
 * into a closed form nor vectorise, so instructions = a + b*K exactly. */
#include <stdint.h>
#include <string.h>

#include "model.h"

int et_model_infer(const void *input, void *output)
{
    uint32_t k;
    uint32_t i;
    uint32_t h = 2166136261u;

    memcpy(&k, input, sizeof k);
    for (i = 0u; i < k; ++i) {
        h = (h ^ i) * 16777619u;
        h ^= h >> 13;
    }
    memcpy(output, &h, sizeof h);
    return 0;
}
