// CapturedFrame: one record of a capture file, as libpcap hands it over.

/// Identifies a frame across a set of input files: the file's position on the command line and the frame's
/// 1-based number in that file (the number Wireshark shows).
public struct FrameRef: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var file: Int
    public var number: Int

    public init(file: Int, number: Int) {
        self.file = file
        self.number = number
    }

    public static func < (a: FrameRef, b: FrameRef) -> Bool {
        (a.file, a.number) < (b.file, b.number)
    }

    public var description: String { "\(self.file + 1):\(self.number)" }
}

/// A capture timestamp in nanoseconds since the Unix epoch (UTC).
public typealias CaptureTime = Int64

/// One captured frame with its link type and bytes (copied out of libpcap's buffer).
public struct CapturedFrame: Sendable {
    public var ref: FrameRef
    public var time: CaptureTime
    public var linkType: Int32
    public var bytes: [UInt8]
    /// The frame's length on the wire (may exceed `bytes.count` when the capture used a snap length).
    public var wireLength: Int

    public init(ref: FrameRef, time: CaptureTime, linkType: Int32, bytes: [UInt8], wireLength: Int) {
        self.ref = ref
        self.time = time
        self.linkType = linkType
        self.bytes = bytes
        self.wireLength = wireLength
    }
}
