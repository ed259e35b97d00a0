// SPDX-License-Identifier: GPL-2.0
/* What both of the emulator's programs (fw.c, fwd.c) count: packets and bytes per key of the
 * per-CPU array `stats` (the firewall: 0 passed, 1 dropped; the forwarder: one key a direction). */
#ifndef EMU_STATS_H
#define EMU_STATS_H

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct counter);
} stats SEC(".maps");

static __always_inline void count(__u32 key, __u64 len)
{
	struct counter *c = bpf_map_lookup_elem(&stats, &key);
	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

#endif
