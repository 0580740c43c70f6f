/* The conv and pool test drivers' reading of an et_conv_geom: its 17 fields in declaration order,
 * each one header integer (driver_io.h's hdr). Include after driver_io.h and et_conv.h. */
#ifndef CONV_GEOM_IO_H
#define CONV_GEOM_IO_H

static void read_geom(et_conv_geom *g)
{
    g->batch = hdr();
    g->in_h = hdr();
    g->in_w = hdr();
    g->in_c = hdr();
    g->out_h = hdr();
    g->out_w = hdr();
    g->out_c = hdr();
    g->kernel_h = hdr();
    g->kernel_w = hdr();
    g->stride_h = hdr();
    g->stride_w = hdr();
    g->dilation_h = hdr();
    g->dilation_w = hdr();
    g->pad_top = hdr();
    g->pad_bottom = hdr();
    g->pad_left = hdr();
    g->pad_right = hdr();
}

#endif /* CONV_GEOM_IO_H */
