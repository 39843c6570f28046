@testable import StewardMedia

/// `ImageSanitizer.sanitize` and `ImageMetadata(reading:)` on a whole JPEG or PNG file, under
/// the strictest policy and the most permissive one.
///
/// Checks: every failure is a ``MediaError``; the output is no larger than the input; sanitising
/// the output again changes nothing; the output carries only EXIF tags and containers the
/// policy allows.
public enum FuzzImage: FuzzTarget {
    public static let name = "FuzzImage"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        do {
            _ = try ImageMetadata(reading: input)
        } catch {
            try require(error is MediaError, "ImageMetadata(reading:) threw \(type(of: error)), not MediaError")
        }
        for policy in ImagePolicies.all {
            let once: SanitizedImage
            do {
                once = try ImageSanitizer.sanitize(input, policy: policy)
            } catch {
                try require(error is MediaError, "sanitize threw \(type(of: error)), not MediaError")
                continue
            }
            try require(once.bytes.count <= input.count, "sanitize grew \(input.count) bytes to \(once.bytes.count)")
            let twice: SanitizedImage
            do {
                twice = try ImageSanitizer.sanitize(once.bytes, policy: policy)
            } catch {
                throw PropertyViolation("sanitize refused its own output: \(error)")
            }
            try require(twice.bytes == once.bytes, "sanitising twice differs from sanitising once")
            let metadata: ImageMetadata
            do {
                metadata = try ImageMetadata(reading: once.bytes)
            } catch {
                throw PropertyViolation("ImageMetadata(reading:) refused sanitised output: \(error)")
            }
            let extraTags = ImagePolicies.disallowed(metadata.exifTags, policy)
            try require(extraTags.isEmpty, "sanitised output keeps EXIF tags the policy removes: \(extraTags.sorted())")
            let extraContainers = Set(metadata.containers).subtracting(ImagePolicies.allowedContainers(policy))
            try require(
                extraContainers.isEmpty,
                "sanitised output keeps containers the policy removes: \(extraContainers.sorted())")
        }
    }
}

/// The policies the image targets try, and what each allows.
enum ImagePolicies {
    static let all = [
        MetadataPolicy.strict, MetadataPolicy(keepCaptureTime: true, keepDeviceModel: true, keepLocation: true),
    ]

    /// The report names of the IFD0 and Exif tags `policy` keeps, and the directory pointers.
    private static func tagNames(_ policy: MetadataPolicy) -> Set<String> {
        var names: Set<String> = ["ExifIFDPointer", "GPSInfoIFDPointer"]
        for (tag, (name, _)) in ExifTags.main where ExifTags.keeps(tag, in: .ifd0, policy: policy) {
            names.insert(name)
        }
        for (tag, (name, _)) in ExifTags.exif where ExifTags.keeps(tag, in: .exif, policy: policy) {
            names.insert(name)
        }
        return names
    }

    private static let names = all.map(tagNames)

    /// The EXIF tag names in `names` that `policy` (one of ``all``) does not allow.
    static func disallowed(_ names: [String], _ policy: MetadataPolicy) -> [String] {
        let allowed = policy == .strict ? self.names[0] : self.names[1]
        return names.filter { !allowed.contains($0) && !(policy.keepLocation && $0.hasPrefix("GPS")) }
    }

    /// The containers a sanitised image may still hold under `policy`.
    static func allowedContainers(_ policy: MetadataPolicy) -> Set<String> {
        var containers: Set<String> = ["JFIF", "EXIF", "ICC profile", "Adobe"]
        if policy.keepCaptureTime { containers.insert("tIME") }
        return containers
    }
}
