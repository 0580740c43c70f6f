#ifndef ET_TEST_FLOAT_MODEL_H
#define ET_TEST_FLOAT_MODEL_H

#define ET_MODEL_INPUT_BYTES (4 * 4)
#define ET_MODEL_OUTPUT_BYTES (3 * 4)

int et_model_infer(const void *input, void *output);

#endif
