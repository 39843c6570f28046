@testable import StewardMedia

/// The EXIF (TIFF) block parser and its rebuild, on a bare TIFF block.
///
/// Checks: a parse failure is a ``MediaError``; the rebuilt block is never larger than the
/// input; it parses again, holds only tags the policy keeps, and rebuilding it again changes
/// nothing.
public enum FuzzEXIF: FuzzTarget {
    public static let name = "FuzzEXIF"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        let tiff: TIFFMetadata
        do {
            tiff = try TIFFMetadata(input)
        } catch {
            try require(error is MediaError, "TIFFMetadata threw \(type(of: error)), not MediaError")
            return
        }
        _ = tiff.tagNames
        for policy in ImagePolicies.all {
            let block: [UInt8]?
            do {
                var report = MetadataReportBuilder(format: .jpeg)
                block = try tiff.rebuilt(policy: policy, into: &report)
            } catch {
                try require(error is MediaError, "rebuilt(policy:) threw \(type(of: error)), not MediaError")
                continue
            }
            guard let block else { continue }
            try require(
                block.count <= input.count,
                "the rebuilt EXIF block (\(block.count) bytes) is larger than the input (\(input.count))")
            let again: TIFFMetadata
            do {
                again = try TIFFMetadata(block)
            } catch {
                throw PropertyViolation("the rebuilt EXIF block does not parse: \(error)")
            }
            let extra = ImagePolicies.disallowed(again.tagNames, policy)
            try require(extra.isEmpty, "the rebuilt EXIF block keeps tags the policy removes: \(extra)")
            let twice: [UInt8]?
            do {
                var report = MetadataReportBuilder(format: .jpeg)
                twice = try again.rebuilt(policy: policy, into: &report)
            } catch {
                throw PropertyViolation("rebuilding the rebuilt EXIF block failed: \(error)")
            }
            try require(twice == block, "rebuilding twice differs from rebuilding once")
        }
    }
}
