// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of copy offload in sd: the EXTENDED COPY (LID1) parameter
 * list builder, the parser of the copy manager's operating parameters, the
 * limits sd derives from them, the designator lookup in VPD page 83h and
 * what sd does with each kind of sense data of a failed EXTENDED COPY. None
 * needs a device.
 */
#include <kunit/test.h>
#include <linux/blkdev.h>
#include <linux/module.h>
#include <linux/unaligned.h>
#include <scsi/scsi.h>
#include <scsi/scsi_cmnd.h>
#include <scsi/scsi_device.h>

#include "sd.h"

/* RECEIVE COPY RESULTS operating parameters as the Linux SCSI target sends */
static void sd_copy_test_op_params(u8 *p, u16 max_segs)
{
	memset(p, 0, 54);
	put_unaligned_be32(42, &p[0]);		/* AVAILABLE DATA */
	p[4] = 0x01;				/* SNLID */
	put_unaligned_be16(2, &p[8]);		/* MAXIMUM CSCD DESCRIPTOR COUNT */
	put_unaligned_be16(max_segs, &p[10]);	/* MAXIMUM SEGMENT DESCRIPTOR COUNT */
	put_unaligned_be32(1024, &p[12]);	/* MAXIMUM DESCRIPTOR LIST LENGTH */
	put_unaligned_be32(268435456, &p[16]);	/* MAXIMUM SEGMENT LENGTH */
	put_unaligned_be16(1, &p[34]);
	p[36] = 1;
	p[37] = 9;
	p[38] = 9;
	p[39] = 9;
	p[43] = 2;				/* IMPLEMENTED DESCRIPTOR LIST LENGTH */
	p[44] = 0x02;
	p[45] = 0xe4;
}

static void sd_copy_test_parse_lio(struct kunit *test)
{
	struct sd_xcopy_params xp;
	u8 p[54];

	sd_copy_test_op_params(p, 1);
	KUNIT_ASSERT_EQ(test, sd_xcopy_parse_op_params(p, sizeof(p), &xp), 0);
	KUNIT_EXPECT_EQ(test, xp.max_cscds, 2);
	KUNIT_EXPECT_EQ(test, xp.max_segs, 1);
	KUNIT_EXPECT_EQ(test, xp.max_list_len, 1024);
	KUNIT_EXPECT_EQ(test, xp.max_seg_bytes, 268435456);

	/* the 16-bit block count limits, then MAXIMUM SEGMENT LENGTH */
	KUNIT_EXPECT_EQ(test, sd_xcopy_max_seg_blocks(&xp, 512), 65535);
	KUNIT_EXPECT_EQ(test, 512ULL * sd_xcopy_max_seg_blocks(&xp, 512),
			33553920ULL);
	KUNIT_EXPECT_EQ(test, 4096ULL * sd_xcopy_max_seg_blocks(&xp, 4096),
			268431360ULL);
	xp.max_seg_bytes = 1 << 20;
	KUNIT_EXPECT_EQ(test, sd_xcopy_max_seg_blocks(&xp, 4096), 256);
	xp.max_seg_bytes = 100;
	KUNIT_EXPECT_EQ(test, sd_xcopy_max_seg_blocks(&xp, 512), 0);
	xp.max_seg_bytes = 0;	/* no limit */
	KUNIT_EXPECT_EQ(test, sd_xcopy_max_seg_blocks(&xp, 4096), 65535);

	KUNIT_EXPECT_EQ(test, sd_xcopy_max_segs(&xp), 1);

	/* a target with 16 segment descriptors: 8 ranges per side */
	sd_copy_test_op_params(p, 16);
	KUNIT_ASSERT_EQ(test, sd_xcopy_parse_op_params(p, sizeof(p), &xp), 0);
	KUNIT_EXPECT_EQ(test, sd_xcopy_max_segs(&xp), 16);
	KUNIT_EXPECT_EQ(test, (sd_xcopy_max_segs(&xp) + 1) / 2, 8);

	/* bounded by the descriptor list length and by sd's buffer */
	xp.max_segs = 1000;
	xp.max_list_len = 200;
	KUNIT_EXPECT_EQ(test, sd_xcopy_max_segs(&xp), 4);
	xp.max_list_len = 65536;
	KUNIT_EXPECT_EQ(test, sd_xcopy_max_segs(&xp), SD_XCOPY_MAX_SEGS);
	KUNIT_EXPECT_LE(test, SD_XCOPY_LIST_MAX_LEN, 4096);
}

static void sd_copy_test_parse_refused(struct kunit *test)
{
	struct sd_xcopy_params xp;
	u8 p[64];

	sd_copy_test_op_params(p, 1);
	p[4] = 0;		/* no SNLID */
	KUNIT_EXPECT_EQ(test, sd_xcopy_parse_op_params(p, 54, &xp), -EOPNOTSUPP);

	sd_copy_test_op_params(p, 1);
	p[45] = 0xe5;		/* no identification CSCD */
	KUNIT_EXPECT_EQ(test, sd_xcopy_parse_op_params(p, 54, &xp), -EOPNOTSUPP);

	sd_copy_test_op_params(p, 1);
	p[44] = 0x01;		/* no block to block segment */
	KUNIT_EXPECT_EQ(test, sd_xcopy_parse_op_params(p, 54, &xp), -EOPNOTSUPP);

	sd_copy_test_op_params(p, 1);
	put_unaligned_be16(1, &p[8]);	/* one CSCD */
	KUNIT_EXPECT_EQ(test, sd_xcopy_parse_op_params(p, 54, &xp), -EOPNOTSUPP);

	sd_copy_test_op_params(p, 0);	/* no segment descriptor */
	KUNIT_EXPECT_EQ(test, sd_xcopy_parse_op_params(p, 54, &xp), -EOPNOTSUPP);

	sd_copy_test_op_params(p, 1);
	put_unaligned_be32(91, &p[12]);	/* two CSCDs and a segment need 92 */
	KUNIT_EXPECT_EQ(test, sd_xcopy_parse_op_params(p, 54, &xp), -EOPNOTSUPP);

	/* truncated: by the transfer, by AVAILABLE DATA, by the code list */
	sd_copy_test_op_params(p, 1);
	KUNIT_EXPECT_EQ(test, sd_xcopy_parse_op_params(p, 40, &xp), -EINVAL);
	KUNIT_EXPECT_EQ(test, sd_xcopy_parse_op_params(p, 45, &xp), -EINVAL);
	put_unaligned_be32(38, &p[0]);
	KUNIT_EXPECT_EQ(test, sd_xcopy_parse_op_params(p, 54, &xp), -EINVAL);
	sd_copy_test_op_params(p, 1);
	p[43] = 20;
	KUNIT_EXPECT_EQ(test, sd_xcopy_parse_op_params(p, 54, &xp), -EINVAL);

	/* more codes than the two needed, and a long buffer */
	sd_copy_test_op_params(p, 1);
	memset(&p[54], 0, sizeof(p) - 54);
	put_unaligned_be32(44, &p[0]);
	p[43] = 4;
	p[44] = 0x01;
	p[45] = 0x02;
	p[46] = 0xe0;
	p[47] = 0xe4;
	KUNIT_EXPECT_EQ(test, sd_xcopy_parse_op_params(p, sizeof(p), &xp), 0);
}

static const u8 sd_copy_test_naa6[16] = {
	0x60, 0x01, 0x40, 0x50, 0x12, 0x34, 0x56, 0x78,
	0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78,
};

static const u8 sd_copy_test_naa5[8] = {
	0x50, 0x01, 0x40, 0x51, 0x23, 0x45, 0x67, 0x89,
};

static unsigned int sd_copy_test_desc(u8 *d, u8 code_set, u8 assoc_type,
				      const u8 *id, u8 len)
{
	d[0] = code_set;
	d[1] = assoc_type;
	d[2] = 0;
	d[3] = len;
	memcpy(&d[4], id, len);
	return 4 + len;
}

static void sd_copy_test_find_id(struct kunit *test)
{
	static const u8 t10[8] = "LIO-ORG ";
	struct sd_xcopy_id id;
	unsigned int n = 4;
	u8 vpd[128] = { 0x00, 0x83 };

	/* T10 vendor ID (ASCII), NAA 5h, then NAA 6h with protocol and PIV */
	n += sd_copy_test_desc(&vpd[n], 0x02, 0x01, t10, sizeof(t10));
	n += sd_copy_test_desc(&vpd[n], 0x01, 0x03, sd_copy_test_naa5, 8);
	n += sd_copy_test_desc(&vpd[n], 0x61, 0x83, sd_copy_test_naa6, 16);
	put_unaligned_be16(n - 4, &vpd[2]);

	KUNIT_ASSERT_EQ(test, sd_xcopy_find_id(vpd, n, &id), 0);
	KUNIT_EXPECT_EQ(test, id.len, 20);
	KUNIT_EXPECT_EQ(test, id.desc[0], 0x01);
	KUNIT_EXPECT_EQ(test, id.desc[1], 0x03);
	KUNIT_EXPECT_EQ(test, id.desc[2], 0x00);
	KUNIT_EXPECT_EQ(test, id.desc[3], 16);
	KUNIT_EXPECT_MEMEQ(test, &id.desc[4], sd_copy_test_naa6, 16);

	/* the page cut before the NAA 6h designator: NAA 5h */
	KUNIT_ASSERT_EQ(test, sd_xcopy_find_id(vpd, n - 10, &id), 0);
	KUNIT_EXPECT_EQ(test, id.len, 12);
	KUNIT_EXPECT_MEMEQ(test, &id.desc[4], sd_copy_test_naa5, 8);

	/* NAA designators of a target port, not of the logical unit */
	n = 4;
	n += sd_copy_test_desc(&vpd[n], 0x01, 0x13, sd_copy_test_naa6, 16);
	n += sd_copy_test_desc(&vpd[n], 0x01, 0x23, sd_copy_test_naa5, 8);
	put_unaligned_be16(n - 4, &vpd[2]);
	KUNIT_EXPECT_EQ(test, sd_xcopy_find_id(vpd, n, &id), -ENODEV);

	/* a 16-byte designator that is not NAA 6h */
	n = 4;
	n += sd_copy_test_desc(&vpd[n], 0x01, 0x03, sd_copy_test_naa6, 16);
	vpd[8] = 0x50;
	put_unaligned_be16(n - 4, &vpd[2]);
	KUNIT_EXPECT_EQ(test, sd_xcopy_find_id(vpd, n, &id), -ENODEV);

	/* PAGE LENGTH shorter than the descriptor */
	vpd[8] = 0x60;
	put_unaligned_be16(10, &vpd[2]);
	KUNIT_EXPECT_EQ(test, sd_xcopy_find_id(vpd, n, &id), -ENODEV);
	KUNIT_EXPECT_EQ(test, sd_xcopy_find_id(vpd, 3, &id), -ENODEV);
}

struct sd_copy_test_ranges {
	const struct sd_xcopy_extent *src;
	const struct sd_xcopy_extent *dst;
	unsigned int calls;
};

static int sd_copy_test_get(void *data, bool dst, unsigned int idx,
			    struct sd_xcopy_extent *ext)
{
	struct sd_copy_test_ranges *r = data;

	r->calls++;
	*ext = dst ? r->dst[idx] : r->src[idx];
	return 0;
}

static struct sd_xcopy_id sd_copy_test_src_id, sd_copy_test_dst_id;

static void sd_copy_test_list(struct sd_xcopy_list *l,
			      struct sd_copy_test_ranges *r,
			      const struct sd_xcopy_extent *src,
			      unsigned int nr_src,
			      const struct sd_xcopy_extent *dst,
			      unsigned int nr_dst)
{
	r->src = src;
	r->dst = dst;
	r->calls = 0;
	*l = (struct sd_xcopy_list) {
		.src_id = &sd_copy_test_src_id,
		.dst_id = &sd_copy_test_dst_id,
		.lbs = 512,
		.max_segs = 16,
		.max_seg_blocks = 65535,
		.nr_src = nr_src,
		.nr_dst = nr_dst,
		.get = sd_copy_test_get,
		.data = r,
	};
}

static void sd_copy_test_ids(void)
{
	struct sd_xcopy_id *s = &sd_copy_test_src_id, *d = &sd_copy_test_dst_id;

	s->len = 20;
	s->desc[0] = 0x01;
	s->desc[1] = 0x03;
	s->desc[3] = 16;
	memcpy(&s->desc[4], sd_copy_test_naa6, 16);
	*d = *s;
	d->desc[19] ^= 0xff;
}

static void sd_copy_test_expect_seg(struct kunit *test, const u8 *seg,
				    u64 src, u64 dst, u16 n)
{
	KUNIT_EXPECT_EQ(test, seg[0], 0x02);
	KUNIT_EXPECT_EQ(test, seg[1], 0x00);
	KUNIT_EXPECT_EQ(test, get_unaligned_be16(&seg[2]), 0x18);
	KUNIT_EXPECT_EQ(test, get_unaligned_be16(&seg[4]), 0);
	KUNIT_EXPECT_EQ(test, get_unaligned_be16(&seg[6]), 1);
	KUNIT_EXPECT_EQ(test, get_unaligned_be16(&seg[8]), 0);
	KUNIT_EXPECT_EQ(test, get_unaligned_be16(&seg[10]), n);
	KUNIT_EXPECT_EQ(test, get_unaligned_be64(&seg[12]), src);
	KUNIT_EXPECT_EQ(test, get_unaligned_be64(&seg[20]), dst);
}

/* One range each side: the exact bytes the Linux SCSI target parses */
static void sd_copy_test_build_one(struct kunit *test)
{
	static const struct sd_xcopy_extent src[] = { { 100, 8 } };
	static const struct sd_xcopy_extent dst[] = { { 2000, 8 } };
	struct sd_copy_test_ranges r;
	struct sd_xcopy_list l;
	u8 *buf;
	int i;

	buf = kunit_kmalloc(test, SD_XCOPY_LIST_MAX_LEN, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	memset(buf, 0xa5, SD_XCOPY_LIST_MAX_LEN);
	sd_copy_test_ids();
	sd_copy_test_list(&l, &r, src, 1, dst, 1);
	l.lbs = 4096;

	KUNIT_ASSERT_EQ(test, sd_xcopy_build(buf, SD_XCOPY_LIST_MAX_LEN, &l),
			16 + 64 + 28);
	/* header */
	KUNIT_EXPECT_EQ(test, buf[0], 0x00);
	KUNIT_EXPECT_EQ(test, buf[1], 0x19);	/* LIST ID USAGE 11b, PRIORITY 1 */
	KUNIT_EXPECT_EQ(test, get_unaligned_be16(&buf[2]), 64);
	KUNIT_EXPECT_EQ(test, get_unaligned_be32(&buf[4]), 0);
	KUNIT_EXPECT_EQ(test, get_unaligned_be32(&buf[8]), 28);
	KUNIT_EXPECT_EQ(test, get_unaligned_be32(&buf[12]), 0);
	/* CSCD 0: the source, CSCD 1: the destination */
	for (i = 0; i < 2; i++) {
		const u8 *c = &buf[16 + 32 * i];
		const struct sd_xcopy_id *id = i ? &sd_copy_test_dst_id :
						   &sd_copy_test_src_id;

		KUNIT_EXPECT_EQ(test, c[0], 0xe4);
		KUNIT_EXPECT_EQ(test, c[1], 0x00);
		KUNIT_EXPECT_EQ(test, get_unaligned_be16(&c[2]), 0);
		KUNIT_EXPECT_MEMEQ(test, &c[4], id->desc, 20);
		KUNIT_EXPECT_EQ(test, get_unaligned_be32(&c[24]), 0);
		KUNIT_EXPECT_EQ(test, c[28], 0);
		KUNIT_EXPECT_EQ(test, get_unaligned_be24(&c[29]), 4096);
	}
	sd_copy_test_expect_seg(test, &buf[80], 100, 2000, 8);
	/* nothing written past the list */
	KUNIT_EXPECT_EQ(test, buf[108], 0xa5);
}

/* Pieces contiguous on both sides, each cut to the segment limit */
static void sd_copy_test_build_pieces(struct kunit *test)
{
	static const struct sd_xcopy_extent src[] = { { 0, 10 }, { 20, 5 } };
	static const struct sd_xcopy_extent dst[] = { { 100, 3 }, { 200, 12 } };
	static const struct sd_xcopy_extent long_src[] = { { 1, 70000 } };
	static const struct sd_xcopy_extent long_dst[] = { { 100000, 70000 } };
	struct sd_copy_test_ranges r;
	struct sd_xcopy_list l;
	u8 *buf;

	buf = kunit_kzalloc(test, SD_XCOPY_LIST_MAX_LEN, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	sd_copy_test_ids();

	sd_copy_test_list(&l, &r, src, 2, dst, 2);
	KUNIT_ASSERT_EQ(test, sd_xcopy_build(buf, SD_XCOPY_LIST_MAX_LEN, &l),
			80 + 3 * 28);
	KUNIT_EXPECT_EQ(test, get_unaligned_be32(&buf[8]), 3 * 28);
	sd_copy_test_expect_seg(test, &buf[80], 0, 100, 3);
	sd_copy_test_expect_seg(test, &buf[80 + 28], 3, 200, 7);
	sd_copy_test_expect_seg(test, &buf[80 + 56], 20, 207, 5);
	/* every range read once */
	KUNIT_EXPECT_EQ(test, r.calls, 4);

	/* a + b - 1 pieces need a + b - 1 descriptors */
	l.max_segs = 2;
	KUNIT_EXPECT_EQ(test, sd_xcopy_build(buf, SD_XCOPY_LIST_MAX_LEN, &l),
			-EOPNOTSUPP);
	l.max_segs = 3;
	KUNIT_EXPECT_EQ(test, sd_xcopy_build(buf, 80 + 2 * 28, &l),
			-EOPNOTSUPP);

	sd_copy_test_list(&l, &r, long_src, 1, long_dst, 1);
	KUNIT_ASSERT_EQ(test, sd_xcopy_build(buf, SD_XCOPY_LIST_MAX_LEN, &l),
			80 + 2 * 28);
	sd_copy_test_expect_seg(test, &buf[80], 1, 100000, 65535);
	sd_copy_test_expect_seg(test, &buf[80 + 28], 65536, 165535, 4465);
	l.max_seg_blocks = 1000000;	/* never more than the field holds */
	KUNIT_EXPECT_EQ(test, sd_xcopy_build(buf, SD_XCOPY_LIST_MAX_LEN, &l),
			80 + 2 * 28);
	l.max_seg_blocks = 0;
	KUNIT_EXPECT_EQ(test, sd_xcopy_build(buf, SD_XCOPY_LIST_MAX_LEN, &l),
			-EOPNOTSUPP);
}

static void sd_copy_test_build_invalid(struct kunit *test)
{
	static const struct sd_xcopy_extent ten[] = { { 0, 10 } };
	static const struct sd_xcopy_extent eight[] = { { 50, 8 } };
	static const struct sd_xcopy_extent five_five[] = { { 50, 5 }, { 60, 5 } };
	static const struct sd_xcopy_extent empty[] = { { 50, 0 }, { 60, 10 } };
	struct sd_copy_test_ranges r;
	struct sd_xcopy_list l;
	u8 *buf;

	buf = kunit_kzalloc(test, SD_XCOPY_LIST_MAX_LEN, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	sd_copy_test_ids();

	sd_copy_test_list(&l, &r, ten, 1, eight, 1);
	KUNIT_EXPECT_EQ(test, sd_xcopy_build(buf, SD_XCOPY_LIST_MAX_LEN, &l),
			-EINVAL);
	sd_copy_test_list(&l, &r, eight, 1, ten, 1);
	KUNIT_EXPECT_EQ(test, sd_xcopy_build(buf, SD_XCOPY_LIST_MAX_LEN, &l),
			-EINVAL);
	sd_copy_test_list(&l, &r, eight, 1, five_five, 2);
	KUNIT_EXPECT_EQ(test, sd_xcopy_build(buf, SD_XCOPY_LIST_MAX_LEN, &l),
			-EINVAL);
	sd_copy_test_list(&l, &r, ten, 1, five_five, 2);
	KUNIT_EXPECT_EQ(test, sd_xcopy_build(buf, SD_XCOPY_LIST_MAX_LEN, &l),
			80 + 2 * 28);
	sd_copy_test_list(&l, &r, empty, 2, ten, 1);
	KUNIT_EXPECT_EQ(test, sd_xcopy_build(buf, SD_XCOPY_LIST_MAX_LEN, &l),
			-EINVAL);
	sd_copy_test_list(&l, &r, ten, 1, ten, 0);
	KUNIT_EXPECT_EQ(test, sd_xcopy_build(buf, SD_XCOPY_LIST_MAX_LEN, &l),
			-EINVAL);
}

static void sd_copy_test_refusals(struct kunit *test)
{
	static const struct {
		u8 asc, ascq;
		bool for_good;
	} cases[] = {
		{ 0x20, 0x00, true },	/* INVALID COMMAND OPERATION CODE */
		{ 0x24, 0x00, true },	/* INVALID FIELD IN CDB */
		{ 0x1a, 0x00, true },	/* PARAMETER LIST LENGTH ERROR */
		{ 0x26, 0x00, true },	/* INVALID FIELD IN PARAMETER LIST */
		{ 0x26, 0x06, true },	/* TOO MANY TARGET DESCRIPTORS */
		{ 0x26, 0x07, true },	/* UNSUPPORTED TARGET DESCRIPTOR TYPE */
		{ 0x26, 0x08, true },	/* TOO MANY SEGMENT DESCRIPTORS */
		{ 0x26, 0x09, true },	/* UNSUPPORTED SEGMENT DESCRIPTOR TYPE */
		{ 0x26, 0x0c, false },	/* ... INVALID OPERATION FOR COPY SOURCE */
		{ 0x21, 0x00, false },	/* LOGICAL BLOCK ADDRESS OUT OF RANGE */
		{ 0x55, 0x03, false },	/* INSUFFICIENT RESOURCES */
	};
	struct scsi_sense_hdr sshdr = { .sense_key = ILLEGAL_REQUEST };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		sshdr.asc = cases[i].asc;
		sshdr.ascq = cases[i].ascq;
		KUNIT_EXPECT_EQ_MSG(test, sd_xcopy_refused_for_good(&sshdr),
				    cases[i].for_good, "ASC %02xh ASCQ %02xh",
				    cases[i].asc, cases[i].ascq);
	}
}

static void sd_copy_test_sense_actions(struct kunit *test)
{
	static const struct {
		u8 key, asc, ascq;
		enum sd_xcopy_action action;
	} cases[] = {
		{ RECOVERED_ERROR, 0x00, 0x00, SD_XCOPY_DONE },
		{ ILLEGAL_REQUEST, 0x20, 0x00, SD_XCOPY_FALLBACK_OFF },
		{ ILLEGAL_REQUEST, 0x26, 0x08, SD_XCOPY_FALLBACK_OFF },
		{ ILLEGAL_REQUEST, 0x21, 0x00, SD_XCOPY_FALLBACK },
		{ ILLEGAL_REQUEST, 0x55, 0x03, SD_XCOPY_FALLBACK },
		/* COPY TARGET DEVICE NOT REACHABLE, as LIO answers */
		{ COPY_ABORTED, 0x0d, 0x02, SD_XCOPY_FALLBACK },
		{ MEDIUM_ERROR, 0x11, 0x00, SD_XCOPY_FALLBACK },
		{ HARDWARE_ERROR, 0x44, 0x00, SD_XCOPY_FALLBACK },
		{ UNIT_ATTENTION, 0x29, 0x00, SD_XCOPY_FAIL },
		{ NOT_READY, 0x04, 0x00, SD_XCOPY_FAIL },
		{ DATA_PROTECT, 0x27, 0x00, SD_XCOPY_FAIL },
		{ ABORTED_COMMAND, 0x00, 0x00, SD_XCOPY_FAIL },
	};
	struct scsi_sense_hdr sshdr = { .response_code = 0x70 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		sshdr.sense_key = cases[i].key;
		sshdr.asc = cases[i].asc;
		sshdr.ascq = cases[i].ascq;
		KUNIT_EXPECT_EQ_MSG(test, sd_xcopy_sense_action(&sshdr),
				    cases[i].action, "key %xh ASC %02xh ASCQ %02xh",
				    cases[i].key, cases[i].asc, cases[i].ascq);
	}
}

static struct kunit_case sd_copy_test_cases[] = {
	KUNIT_CASE(sd_copy_test_parse_lio),
	KUNIT_CASE(sd_copy_test_parse_refused),
	KUNIT_CASE(sd_copy_test_find_id),
	KUNIT_CASE(sd_copy_test_build_one),
	KUNIT_CASE(sd_copy_test_build_pieces),
	KUNIT_CASE(sd_copy_test_build_invalid),
	KUNIT_CASE(sd_copy_test_refusals),
	KUNIT_CASE(sd_copy_test_sense_actions),
	{}
};

static struct kunit_suite sd_copy_test_suite = {
	.name = "sd_copy",
	.test_cases = sd_copy_test_cases,
};

kunit_test_suite(sd_copy_test_suite);

MODULE_DESCRIPTION("KUnit tests of copy offload in sd");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("EXPORTED_FOR_KUNIT_TESTING");
