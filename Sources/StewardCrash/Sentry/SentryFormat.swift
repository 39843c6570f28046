import Foundation

/// The text forms Sentry's payloads use for dates and addresses.
enum SentryFormat {
    /// RFC 3339 in UTC with milliseconds and `Z`: `2026-11-29T13:14:47.250Z`.
    ///
    /// Computed arithmetically (no formatter, no locale, no time zone database), so it is the
    /// same everywhere; milliseconds are rounded to nearest. Dates outside years 1 to 9999
    /// (or not finite, from a damaged record) are clamped rather than trapping.
    static func timestamp(_ date: Date) -> String {
        let lowest = -62_135_596_800_000.0, highest = 253_402_300_799_999.0  // 0001-01-01, 9999-12-31T23:59:59.999
        let raw = (date.timeIntervalSince1970 * 1000).rounded()
        var millis = Int64(raw.isNaN ? 0 : min(max(raw, lowest), highest))
        var days = millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000
        millis -= days * 86_400_000
        let hour = millis / 3_600_000
        let minute = millis / 60_000 % 60
        let second = millis / 1000 % 60
        let milli = millis % 1000
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)).\(pad(milli, 3))Z"
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// A 64-bit address as Sentry wants it: `0x` and lowercase hex without padding (`0x7f5140527000`).
    static func hex(_ value: UInt64) -> String {
        "0x" + String(value, radix: 16)
    }
}
