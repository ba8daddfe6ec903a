/*
 * The ioreq-server cases of Xen 4.14's DMOP handler, for the 4.14 build of the harness
 * (XENC_XEN414). In 4.14 the checks that 4.17 moved into ioreq_server_dm_op() still live in
 * arch/x86/hvm/dm.c, which the harness does not compile (it is mostly about other DMOPs); this is
 * our own rendering of what 4.14's do_dm_op() does for the six ioreq ops once the shared prologue
 * (harness.c xenc_h_dm_op: domain lookup, HVM check, XSM, sizes, op.pad) has passed:
 *
 *   create      const_op = false; pad[0..2] non-zero: -EINVAL; hvm_create_ioreq_server()
 *   get_info    const_op = false; flags other than XEN_DMOP_no_gfns: -EINVAL;
 *               hvm_get_ioreq_server_info() with NULL gfn outputs under XEN_DMOP_no_gfns
 *   map/unmap   pad non-zero: -EINVAL; hvm_(un)map_io_range_(to|from)_ioreq_server()
 *   set_state   pad non-zero: -EINVAL; hvm_set_ioreq_server_state(..., !!enabled)
 *   destroy     pad non-zero: -EINVAL; hvm_destroy_ioreq_server()
 *
 * The functions called are Xen 4.14's own (arch/x86/hvm/ioreq.c, compiled unchanged).
 */
#include "harness.h"

int xenc_dm_op414(struct xen_dm_op *op, struct domain *d, bool *const_op)
{
    switch ( op->op )
    {
    case XEN_DMOP_create_ioreq_server:
    {
        struct xen_dm_op_create_ioreq_server *data = &op->u.create_ioreq_server;

        *const_op = false;
        if ( data->pad[0] || data->pad[1] || data->pad[2] )
            return -EINVAL;
        return hvm_create_ioreq_server(d, data->handle_bufioreq, &data->id);
    }

    case XEN_DMOP_get_ioreq_server_info:
    {
        struct xen_dm_op_get_ioreq_server_info *data = &op->u.get_ioreq_server_info;
        bool no_gfns = data->flags & XEN_DMOP_no_gfns;
        unsigned long ioreq_gfn = data->ioreq_gfn, bufioreq_gfn = data->bufioreq_gfn;
        int rc;

        *const_op = false;
        if ( data->flags & ~XEN_DMOP_no_gfns )
            return -EINVAL;
        rc = hvm_get_ioreq_server_info(d, data->id, no_gfns ? NULL : &ioreq_gfn,
                                       no_gfns ? NULL : &bufioreq_gfn, &data->bufioreq_port);
        data->ioreq_gfn = ioreq_gfn;
        data->bufioreq_gfn = bufioreq_gfn;
        return rc;
    }

    case XEN_DMOP_map_io_range_to_ioreq_server:
    case XEN_DMOP_unmap_io_range_from_ioreq_server:
    {
        const struct xen_dm_op_ioreq_server_range *data = &op->u.map_io_range_to_ioreq_server;

        if ( data->pad )
            return -EINVAL;
        if ( op->op == XEN_DMOP_map_io_range_to_ioreq_server )
            return hvm_map_io_range_to_ioreq_server(d, data->id, data->type, data->start,
                                                    data->end);
        return hvm_unmap_io_range_from_ioreq_server(d, data->id, data->type, data->start,
                                                    data->end);
    }

    case XEN_DMOP_set_ioreq_server_state:
    {
        const struct xen_dm_op_set_ioreq_server_state *data = &op->u.set_ioreq_server_state;

        if ( data->pad )
            return -EINVAL;
        return hvm_set_ioreq_server_state(d, data->id, !!data->enabled);
    }

    case XEN_DMOP_destroy_ioreq_server:
    {
        const struct xen_dm_op_destroy_ioreq_server *data = &op->u.destroy_ioreq_server;

        if ( data->pad )
            return -EINVAL;
        return hvm_destroy_ioreq_server(d, data->id);
    }

    default:
        return -EOPNOTSUPP;
    }
}
