/* SPDX-License-Identifier: MIT */
/* inventory.img parser: the magic and the image version. */
#include <errno.h>

#include "images/frame.h"
#include "images/img.h"
#include "proto/inventory.pb-c.h"

/* CRIU's CRTOOLS_IMAGES_V1 and CRTOOLS_IMAGES_V1_1; 4.x writes the latter. */
enum { IMAGES_V1 = 1, IMAGES_V1_1 = 2 };

int img_parse_inventory(const uint8_t *buf, size_t len, const char *name,
			struct img_inventory *out, struct img_err *err)
{
	FlInventoryEntry *inv;
	struct img_frame f;
	const uint8_t *msg;
	size_t n;
	int ret;

	*out = (struct img_inventory){ 0 };
	ret = img_frame_init(&f, buf, len, name, IMG_MAGIC_INVENTORY, err);
	if (!ret)
		ret = img_frame_single(&f, &msg, &n, "inventory_entry", err);
	if (ret)
		return ret;
	inv = fl_inventory_entry__unpack(NULL, n, msg);
	if (!inv)
		return img_errf(err, -EBADMSG, "%s: corrupt inventory_entry at offset %zu (%zu bytes)",
				name, f.msg_off, n);
	if (!inv->has_img_version)
		ret = img_errf(err, -EPROTO, "%s: inventory_entry at offset %zu has no img_version",
			       name, f.msg_off);
	else if (inv->img_version != IMAGES_V1 && inv->img_version != IMAGES_V1_1)
		ret = img_errf(err, -EPROTO, "%s: unsupported img_version %u at offset %zu", name,
			       inv->img_version, f.msg_off);
	else
		out->img_version = inv->img_version;
	fl_inventory_entry__free_unpacked(inv, NULL);
	return ret;
}
