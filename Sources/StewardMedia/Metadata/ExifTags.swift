/// The EXIF tags StewardMedia knows by name, and which of them a ``MetadataPolicy`` may keep.
enum ExifTags {
    /// Which rule decides whether a tag is kept.
    enum Class {
        /// Needed to show the image as taken (orientation, resolution, colour space): always kept.
        case rendering
        /// When the photo was taken: kept with ``MetadataPolicy/keepCaptureTime``.
        case captureTime
        /// The camera's maker and model: kept with ``MetadataPolicy/keepDeviceModel``.
        case deviceModel
        /// Everything else (serials, owner names, maker notes, software, comments, settings):
        /// always removed.
        case other
    }

    // Directory pointers.
    static let exifPointer: UInt16 = 0x8769
    static let gpsPointer: UInt16 = 0x8825
    static let interopPointer: UInt16 = 0xA005

    /// IFD0 (and IFD1) tags.
    static let main: [UInt16: (String, Class)] = [
        0x0100: ("ImageWidth", .other), 0x0101: ("ImageLength", .other),
        0x010E: ("ImageDescription", .other), 0x010F: ("Make", .deviceModel), 0x0110: ("Model", .deviceModel),
        0x0112: ("Orientation", .rendering), 0x011A: ("XResolution", .rendering), 0x011B: ("YResolution", .rendering),
        0x0128: ("ResolutionUnit", .rendering), 0x0131: ("Software", .other), 0x0132: ("DateTime", .captureTime),
        0x013B: ("Artist", .other), 0x013C: ("HostComputer", .other), 0x0213: ("YCbCrPositioning", .rendering),
        0x0201: ("JPEGInterchangeFormat", .other), 0x0202: ("JPEGInterchangeFormatLength", .other),
        0x0103: ("Compression", .other), 0x014A: ("SubIFDs", .other),
        0x8298: ("Copyright", .other), 0x8769: ("ExifIFDPointer", .other), 0x8825: ("GPSInfoIFDPointer", .other),
        0x9C9B: ("XPTitle", .other), 0x9C9C: ("XPComment", .other), 0x9C9D: ("XPAuthor", .other),
        0x9C9E: ("XPKeywords", .other), 0x9C9F: ("XPSubject", .other), 0xC4A5: ("PrintImageMatching", .other),
        0x02BC: ("XMLPacket", .other), 0x83BB: ("IPTC-NAA", .other), 0x8773: ("InterColorProfile", .other),
    ]

    /// Exif IFD tags.
    static let exif: [UInt16: (String, Class)] = [
        0x829A: ("ExposureTime", .other), 0x829D: ("FNumber", .other), 0x8822: ("ExposureProgram", .other),
        0x8827: ("PhotographicSensitivity", .other), 0x9000: ("ExifVersion", .rendering),
        0x9003: ("DateTimeOriginal", .captureTime), 0x9004: ("DateTimeDigitized", .captureTime),
        0x9010: ("OffsetTime", .captureTime), 0x9011: ("OffsetTimeOriginal", .captureTime),
        0x9012: ("OffsetTimeDigitized", .captureTime), 0x9101: ("ComponentsConfiguration", .other),
        0x9201: ("ShutterSpeedValue", .other), 0x9202: ("ApertureValue", .other), 0x9204: ("ExposureBiasValue", .other),
        0x9207: ("MeteringMode", .other), 0x9209: ("Flash", .other), 0x920A: ("FocalLength", .other),
        0x927C: ("MakerNote", .other), 0x9286: ("UserComment", .other),
        0x9290: ("SubSecTime", .captureTime), 0x9291: ("SubSecTimeOriginal", .captureTime),
        0x9292: ("SubSecTimeDigitized", .captureTime), 0xA000: ("FlashpixVersion", .other),
        0xA001: ("ColorSpace", .rendering), 0xA002: ("PixelXDimension", .rendering),
        0xA003: ("PixelYDimension", .rendering),
        0xA005: ("InteroperabilityIFDPointer", .other), 0xA420: ("ImageUniqueID", .other),
        0xA430: ("CameraOwnerName", .other), 0xA431: ("BodySerialNumber", .other),
        0xA432: ("LensSpecification", .other),
        0xA433: ("LensMake", .deviceModel), 0xA434: ("LensModel", .deviceModel), 0xA435: ("LensSerialNumber", .other),
        0xA402: ("ExposureMode", .other), 0xA403: ("WhiteBalance", .other), 0xA406: ("SceneCaptureType", .other),
        0x8830: ("SensitivityType", .other), 0xA217: ("SensingMethod", .other), 0xA300: ("FileSource", .other),
        0xA301: ("SceneType", .other), 0xA401: ("CustomRendered", .other), 0xA404: ("DigitalZoomRatio", .other),
        0xA405: ("FocalLengthIn35mmFilm", .other), 0xA460: ("CompositeImage", .other),
    ]

    /// GPS IFD tags (all of them location: kept only with ``MetadataPolicy/keepLocation``).
    static let gps: [UInt16: String] = [
        0x00: "GPSVersionID", 0x01: "GPSLatitudeRef", 0x02: "GPSLatitude", 0x03: "GPSLongitudeRef",
        0x04: "GPSLongitude", 0x05: "GPSAltitudeRef", 0x06: "GPSAltitude", 0x07: "GPSTimeStamp",
        0x08: "GPSSatellites", 0x09: "GPSStatus", 0x0A: "GPSMeasureMode", 0x0B: "GPSDOP", 0x0C: "GPSSpeedRef",
        0x0D: "GPSSpeed", 0x0E: "GPSTrackRef", 0x0F: "GPSTrack", 0x10: "GPSImgDirectionRef", 0x11: "GPSImgDirection",
        0x12: "GPSMapDatum", 0x13: "GPSDestLatitudeRef", 0x14: "GPSDestLatitude", 0x15: "GPSDestLongitudeRef",
        0x16: "GPSDestLongitude", 0x17: "GPSDestBearingRef", 0x18: "GPSDestBearing", 0x19: "GPSDestDistanceRef",
        0x1A: "GPSDestDistance", 0x1B: "GPSProcessingMethod", 0x1C: "GPSAreaInformation", 0x1D: "GPSDateStamp",
        0x1E: "GPSDifferential", 0x1F: "GPSHPositioningError",
    ]

    static func hex(_ tag: UInt16) -> String {
        let digits = String(tag, radix: 16, uppercase: true)
        return "0x" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// The report name of a tag in a directory.
    static func name(_ tag: UInt16, in directory: TIFFDirectory) -> String {
        switch directory {
        case .ifd0: return main[tag]?.0 ?? "Tag \(hex(tag))"
        case .exif: return exif[tag]?.0 ?? "ExifTag \(hex(tag))"
        case .gps: return gps[tag] ?? "GPSTag \(hex(tag))"
        case .interop: return "Interop \(hex(tag))"
        case .thumbnail: return "Thumbnail " + (main[tag]?.0 ?? hex(tag))
        }
    }

    /// The field types and the largest count a kept tag may have: a tag the policy keeps but
    /// whose shape differs from the EXIF specification's (an `Orientation` of a million bytes)
    /// is removed as malformed, so nothing but the expected small value can ride along.
    static func hasExpectedShape(_ entry: TIFFEntry, in directory: TIFFDirectory) -> Bool {
        let (byte, ascii, short, long, rational, srational, undefined):
            (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16) = (1, 2, 3, 4, 5, 10, 7)
        let types: Set<UInt16>, maxCount: UInt32
        switch (directory, entry.tag) {
        case (.ifd0, 0x0112), (.ifd0, 0x0128), (.ifd0, 0x0213), (.exif, 0xA001): (types, maxCount) = ([short], 1)
        case (.ifd0, 0x011A), (.ifd0, 0x011B): (types, maxCount) = ([rational], 1)
        case (.exif, 0xA002), (.exif, 0xA003): (types, maxCount) = ([short, long], 1)
        case (.exif, 0x9000): (types, maxCount) = ([undefined], 4)
        case (.ifd0, 0x0132), (.exif, 0x9003), (.exif, 0x9004): (types, maxCount) = ([ascii], 32)
        case (.exif, 0x9010), (.exif, 0x9011), (.exif, 0x9012), (.exif, 0x9290), (.exif, 0x9291), (.exif, 0x9292):
            (types, maxCount) = ([ascii], 16)
        case (.ifd0, 0x010F), (.ifd0, 0x0110), (.exif, 0xA433), (.exif, 0xA434): (types, maxCount) = ([ascii], 256)
        case (.gps, _):
            // GPS fields are small: bytes, text, shorts, rationals; the text fields
            // (processing method, area) are undefined bytes.
            (types, maxCount) = ([byte, ascii, short, long, rational, srational, undefined], 256)
        default:
            return false
        }
        return types.contains(entry.type) && entry.count <= maxCount
    }

    /// Whether `policy` keeps `tag` of `directory`.
    static func keeps(_ tag: UInt16, in directory: TIFFDirectory, policy: MetadataPolicy) -> Bool {
        let cls: Class
        switch directory {
        case .gps: return policy.keepLocation
        case .interop, .thumbnail: return false
        case .ifd0: cls = main[tag]?.1 ?? .other
        case .exif: cls = exif[tag]?.1 ?? .other
        }
        switch cls {
        case .rendering: return true
        case .captureTime: return policy.keepCaptureTime
        case .deviceModel: return policy.keepDeviceModel
        case .other: return false
        }
    }
}
