//go:build linux

package sensor

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The event vocabulary is spelled out as numbers in event.go so that it
// builds on every platform; these must stay the kernel's.
func TestVocabularyMatchesKernel(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"KindFork", uint64(KindFork), uint64(vigilEventTypeEVENT_FORK)},
		{"KindExec", uint64(KindExec), uint64(vigilEventTypeEVENT_EXEC)},
		{"KindExit", uint64(KindExit), uint64(vigilEventTypeEVENT_EXIT)},
		{"KindFile", uint64(KindFile), uint64(vigilEventTypeEVENT_FILE)},
		{"KindNet", uint64(KindNet), uint64(vigilEventTypeEVENT_NET)},
		{"FlagExeTruncated", uint64(FlagExeTruncated), uint64(vigilEventFlagFLAG_EXE_TRUNCATED)},
		{"FlagArgsTruncated", uint64(FlagArgsTruncated), uint64(vigilEventFlagFLAG_ARGS_TRUNCATED)},
		{"FlagCwdTruncated", uint64(FlagCwdTruncated), uint64(vigilEventFlagFLAG_CWD_TRUNCATED)},
		{"FlagArgsUnreadable", uint64(FlagArgsUnreadable), uint64(vigilEventFlagFLAG_ARGS_UNREADABLE)},
		{"FlagNewRoot", uint64(FlagNewRoot), uint64(vigilEventFlagFLAG_NEW_ROOT)},
		{"FlagEnvTruncated", uint64(FlagEnvTruncated), uint64(vigilEventFlagFLAG_ENV_TRUNCATED)},
		{"CauseRingbufFull", uint64(CauseRingbufFull), uint64(vigilDropCauseDROP_RINGBUF_FULL)},
		{"CauseTruncated", uint64(CauseTruncated), uint64(vigilDropCauseDROP_TRUNCATED)},
		{"CauseTrackFull", uint64(CauseTrackFull), uint64(vigilDropCauseDROP_TRACK_FULL)},
		{"CauseReadFailed", uint64(CauseReadFailed), uint64(vigilDropCauseDROP_READ_FAILED)},
		{"CauseAggFull", uint64(CauseAggFull), uint64(vigilDropCauseDROP_AGG_FULL)},
		{"FileOpen", uint64(FileOpen), uint64(vigilFileOpFILE_OPEN)},
		{"FileUnlink", uint64(FileUnlink), uint64(vigilFileOpFILE_UNLINK)},
		{"FileRmdir", uint64(FileRmdir), uint64(vigilFileOpFILE_RMDIR)},
		{"FileRename", uint64(FileRename), uint64(vigilFileOpFILE_RENAME)},
		{"FileTruncate", uint64(FileTruncate), uint64(vigilFileOpFILE_TRUNCATE)},
		{"FileWriteStart", uint64(FileWriteStart), uint64(vigilFileOpFILE_WRITE_START)},
		{"FileWriteEnd", uint64(FileWriteEnd), uint64(vigilFileOpFILE_WRITE_END)},
		{"FilePathExact", uint64(FilePathExact), uint64(vigilFileFlagFFLAG_PATH_EXACT)},
		{"FilePathCut", uint64(FilePathCut), uint64(vigilFileFlagFFLAG_PATH_CUT)},
		{"FileRegular", uint64(FileRegular), uint64(vigilFileFlagFFLAG_REGULAR)},
		{"FileTruncated", uint64(FileTruncated), uint64(vigilFileFlagFFLAG_TRUNCATED)},
		{"FileAtExit", uint64(FileAtExit), uint64(vigilFileFlagFFLAG_AT_EXIT)},
		{"FileStale", uint64(FileStale), uint64(vigilFileFlagFFLAG_STALE)},
		{"FilePathKernel", uint64(FilePathKernel), uint64(vigilFileFlagFFLAG_PATH_KERNEL)},
		{"NetConnect", uint64(NetConnect), uint64(vigilNetOpNET_CONNECT)},
		{"NetSendStart", uint64(NetSendStart), uint64(vigilNetOpNET_SEND_START)},
		{"NetSendEnd", uint64(NetSendEnd), uint64(vigilNetOpNET_SEND_END)},
		{"NetDNSAnswer", uint64(NetDNSAnswer), uint64(vigilNetOpNET_DNS_ANSWER)},
		{"NetAtExit", uint64(NetAtExit), uint64(vigilNetFlagNFLAG_AT_EXIT)},
		{"NetDestChange", uint64(NetDestChange), uint64(vigilNetFlagNFLAG_DEST_CHANGE)},
		{"NetPayloadCut", uint64(NetPayloadCut), uint64(vigilNetFlagNFLAG_PAYLOAD_CUT)},
		{"NetStale", uint64(NetStale), uint64(vigilNetFlagNFLAG_STALE)},
		{"NetAddrKernel", uint64(NetAddrKernel), uint64(vigilNetFlagNFLAG_ADDR_KERNEL)},
		{"FamilyUnix", FamilyUnix, 1},
		{"FamilyInet", FamilyInet, 2},
		{"FamilyInet6", FamilyInet6, 10},
		{"MaxCorrelationID", uint64(MaxCorrelationID), uint64(vigilEnvLimitVIGIL_CORR_ID_MAX)},
		{"EnvScanBytes", uint64(EnvScanBytes), uint64(vigilEnvLimitVIGIL_ENV_SCAN_MAX)},
		{"EnvScanSteps", uint64(EnvScanSteps), uint64(vigilEnvLimitVIGIL_ENV_SCAN_STEPS)},
		{"traceparentLen", uint64(traceparentLen), uint64(vigilEnvLimitVIGIL_TRACEPARENT_MAX)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, the kernel's is %d", c.name, c.got, c.want)
		}
	}
	// The flags user space sets must stay clear of the kernel's.
	for _, f := range []Flags{FlagNativeExit, FlagCorrelationIDInvalid, FlagTraceparentInvalid} {
		if f < 1<<13 || uint64(f) <= uint64(vigilEventFlagFLAG_ENV_TRUNCATED) {
			t.Errorf("user-space flag %#x overlaps the kernel's", f)
		}
	}
	for _, f := range []FileFlags{FileDirKernel, FileAtStop, FileModeUnknown, FileSizeUnknown} {
		if f < 1<<12 || uint64(f) <= uint64(vigilFileFlagFFLAG_PATH_KERNEL) {
			t.Errorf("user-space file flag %#x overlaps the kernel's", f)
		}
	}
}

func TestMkdevMatchesLinux(t *testing.T) {
	for _, d := range [][2]uint32{{0, 0}, {8, 1}, {259, 3}, {0xfff, 0xff}, {0x1000, 0x100}, {0xfffff, 0xfffff}} {
		dev := Mkdev(d[0], d[1])
		if want := unix.Mkdev(d[0], d[1]); dev != want {
			t.Errorf("Mkdev(%d, %d) = %#x, unix.Mkdev %#x", d[0], d[1], dev, want)
		}
		if DevMajor(dev) != d[0] || DevMinor(dev) != d[1] {
			t.Errorf("Mkdev(%d, %d) splits into %d:%d", d[0], d[1], DevMajor(dev), DevMinor(dev))
		}
	}
}
