#ifndef ET_TEST_INT8_MODEL_H
#define ET_TEST_INT8_MODEL_H

#define ET_MODEL_INPUT_BYTES 8
#define ET_MODEL_OUTPUT_BYTES 4

int et_model_infer(const void *input, void *output);

#endif
