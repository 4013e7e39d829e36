// Whether a RocksDB comparator orders keys the way the ordered memtable compares them inline
// (ordered_memtable.hpp): user keys bytewise (unsigned bytes, a key before its extensions),
// then the 8-byte tag (sequence << 8 | type) descending, newest first. RocksDB's memtable
// comparator orders by the sequence alone (InternalKeyComparator::CompareKeySeq); ours refines
// it with the type, which never decides anything since sequences are unique in a memtable, so
// the check accepts either for one user key and sequence.
//
// The check compares a fixed list of probe keys, written down already in that order, every
// pair both ways, through the comparator under test. The probes cover the ways a plausible
// other order differs: reversed, signed bytes, case folding, zero bytes, a key against its
// prefix, differences past the first 8 bytes (word-at-a-time compares), timestamps, and
// sequence and type. A probe set cannot prove two orders equal, so the user-key check also
// requires RocksDB's bytewise comparator by name and without a timestamp.
//
// Thread-safe (pure functions).
#pragma once

#include <rocksdb/memtablerep.h>

#include <optional>
#include <string>

namespace rocksdb {
class Comparator;
}

namespace rstmdb::storage {

// Null if `cmp` is RocksDB's bytewise user-key comparator; otherwise what is wrong with it, e.g.
// `"rocksdb.ReverseBytewiseComparator" orders "a" after "b"`.
std::optional<std::string> bytewise_user_order_mismatch(const rocksdb::Comparator& cmp);

// Null if `cmp` (a memtable's comparator of length-prefixed internal keys, as RocksDB hands it
// to MemTableRepFactory::CreateMemTableRep) agrees with the bytewise internal-key order on
// every probe pair, through both of its overloads; otherwise the first disagreement.
std::optional<std::string> bytewise_internal_order_mismatch(const rocksdb::MemTableRep::KeyComparator& cmp);

}  // namespace rstmdb::storage
