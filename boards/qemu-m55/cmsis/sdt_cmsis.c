/* Flat entry points into CMSIS-NN for the dense int8 peer firmware: the Rust side passes plain
 * integers and pointers, this file fills CMSIS-NN's parameter structs. Part of sdt-qemu-m55. */
#include "arm_nnfunctions.h"
#include "arm_nnsupportfunctions.h"

static cmsis_nn_dims dims(int32_t n, int32_t h, int32_t w, int32_t c)
{
    cmsis_nn_dims d = {n, h, w, c};
    return d;
}

static cmsis_nn_conv_params conv_params(int32_t stride, int32_t pad, int32_t act_min, int32_t act_max)
{
    cmsis_nn_conv_params p;
    p.input_offset = 0;
    p.output_offset = 0;
    p.stride.w = stride;
    p.stride.h = stride;
    p.padding.w = pad;
    p.padding.h = pad;
    p.dilation.w = 1;
    p.dilation.h = 1;
    p.activation.min = act_min;
    p.activation.max = act_max;
    return p;
}

/* The depthwise parameters: the same fields as a convolution's, one output per input channel. */
static cmsis_nn_dw_conv_params dw_params(int32_t stride, int32_t pad, int32_t act_min, int32_t act_max)
{
    cmsis_nn_conv_params c = conv_params(stride, pad, act_min, act_max);
    cmsis_nn_dw_conv_params p;
    p.input_offset = c.input_offset;
    p.output_offset = c.output_offset;
    p.ch_mult = 1;
    p.stride = c.stride;
    p.padding = c.padding;
    p.dilation = c.dilation;
    p.activation = c.activation;
    return p;
}

/* Geometry of one convolution: input HWC, square kernel, symmetric padding. */
typedef struct
{
    int32_t in_h, in_w, in_c, out_h, out_w, out_c, kernel, stride, pad;
} sdt_conv_geom;

int32_t sdt_conv_s8_buffer_size(const sdt_conv_geom *g, int32_t depthwise)
{
    cmsis_nn_dims in = dims(1, g->in_h, g->in_w, g->in_c);
    cmsis_nn_dims out = dims(1, g->out_h, g->out_w, g->out_c);
    if (depthwise)
    {
        cmsis_nn_dw_conv_params p = dw_params(g->stride, g->pad, 0, 0);
        cmsis_nn_dims f = dims(1, g->kernel, g->kernel, g->out_c);
        return arm_depthwise_conv_wrapper_s8_get_buffer_size(&p, &in, &f, &out);
    }
    cmsis_nn_conv_params p = conv_params(g->stride, g->pad, 0, 0);
    cmsis_nn_dims f = dims(g->out_c, g->kernel, g->kernel, g->in_c);
    return arm_convolve_wrapper_s8_get_buffer_size(&p, &in, &f, &out);
}

/* Convolution (filter OHWI) or depthwise convolution (filter 1HWC) with per-channel
 * requantization and the activation clamp [act_min, act_max]. */
int32_t sdt_conv_s8(const sdt_conv_geom *g,
                    int32_t depthwise,
                    const int8_t *input,
                    const int8_t *filter,
                    const int32_t *bias,
                    int32_t *multiplier,
                    int32_t *shift,
                    int32_t act_min,
                    int32_t act_max,
                    int8_t *output,
                    void *buf,
                    int32_t buf_size)
{
    cmsis_nn_context ctx = {buf, buf_size};
    cmsis_nn_per_channel_quant_params q = {multiplier, shift};
    cmsis_nn_dims in = dims(1, g->in_h, g->in_w, g->in_c);
    cmsis_nn_dims out = dims(1, g->out_h, g->out_w, g->out_c);
    cmsis_nn_dims b = dims(1, 1, 1, g->out_c);
    if (depthwise)
    {
        cmsis_nn_dw_conv_params p = dw_params(g->stride, g->pad, act_min, act_max);
        cmsis_nn_dims f = dims(1, g->kernel, g->kernel, g->out_c);
        return arm_depthwise_conv_wrapper_s8(&ctx, &p, &q, &in, input, &f, filter, &b, bias, &out, output);
    }
    cmsis_nn_conv_params p = conv_params(g->stride, g->pad, act_min, act_max);
    cmsis_nn_dims f = dims(g->out_c, g->kernel, g->kernel, g->in_c);
    return arm_convolve_wrapper_s8(&ctx, &p, &q, &in, input, &f, filter, &b, bias, &out, output);
}

/* dst[m][n] += sum_k lhs[m][k] * rhs[n][k] (int32 accumulators, dst zeroed by the caller). */
int32_t sdt_mat_mult_s8_s32(const int8_t *lhs, const int8_t *rhs, int32_t *dst, int32_t m, int32_t k, int32_t n)
{
    return arm_nn_mat_mult_nt_t_s8_s32(lhs, rhs, dst, m, k, n, 0, 1);
}
