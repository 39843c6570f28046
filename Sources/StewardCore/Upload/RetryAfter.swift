public import struct Foundation.Date

/// Reads an HTTP `Retry-After` header value (RFC 9110 §10.2.3): how long a recipient asked
/// the sender to wait before trying again.
///
/// The value is either a number of seconds (`120`) or an HTTP-date in any of the three forms
/// RFC 9110 §5.6.7 requires a recipient to accept:
///
/// - IMF-fixdate, the one servers send today: `Sun, 06 Nov 1994 08:49:37 GMT`;
/// - the obsolete RFC 850 form: `Sunday, 06-Nov-94 08:49:37 GMT`;
/// - the obsolete asctime form: `Sun Nov  6 08:49:37 1994`.
///
/// Parsing is done by hand, byte by byte: no `DateFormatter`, so no locale, time-zone or
/// calendar setting of the host can change the result. Names of days and months are matched
/// without regard to case; anything else that does not fit the grammar is refused.
///
/// ```swift
/// RetryAfter.delay(fromHeader: "120", now: now)                            // 120 s
/// RetryAfter.delay(fromHeader: "Wed, 21 Oct 2015 07:28:00 GMT", now: now)  // until then, or .zero
/// RetryAfter.delay(fromHeader: "soon", now: now)                           // nil
/// ```
public enum RetryAfter {
    /// The longest delay a `delay-seconds` value is taken to mean: 2³¹ seconds (about 68
    /// years), the cap RFC 9111 §1.2.2 sets for delta-seconds too large to represent.
    public static let maximumSeconds: Int64 = 2_147_483_648

    /// The delay a `Retry-After` value asks for, measured from `now`.
    ///
    /// - Parameters:
    ///   - value: The header's value; optional whitespace around it is ignored.
    ///   - now: The current date, for the HTTP-date form (and for the two-digit year of the
    ///     RFC 850 form).
    /// - Returns: The delay: the number of seconds, or the time from `now` until the date
    ///   (rounded up to the millisecond, `.zero` for a date that has passed); nil when the value
    ///   is neither form.
    public static func delay(fromHeader value: String, now: Date) -> Duration? {
        let bytes = trimmed(Array(value.utf8))
        guard !bytes.isEmpty else { return nil }
        if bytes.allSatisfy(isDigit) {
            var seconds: Int64 = 0
            for byte in bytes {
                seconds = seconds * 10 + Int64(byte - 0x30)
                if seconds >= maximumSeconds { return .seconds(maximumSeconds) }
            }
            return .seconds(seconds)
        }
        guard let date = parseHTTPDate(bytes, now: now) else { return nil }
        let interval = date.timeIntervalSince(now)
        guard interval > 0 else { return .zero }  // also NaN
        // Capped like delay-seconds, so even an absurd `now` cannot overflow the conversion.
        return .milliseconds(Int64((min(interval, Double(maximumSeconds)) * 1000).rounded(.up)))
    }

    /// Parses an HTTP-date in any of its three forms.
    ///
    /// - Parameters:
    ///   - value: `Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94 08:49:37 GMT` or
    ///     `Sun Nov  6 08:49:37 1994`; optional whitespace around it is ignored.
    ///   - now: Resolves the two-digit year of the RFC 850 form: a date that would lie more than
    ///     50 years after `now` is taken to be in the previous century (RFC 9110 §5.6.7).
    /// - Returns: The date, or nil when `value` is not an HTTP-date or names an impossible one
    ///   (31 April, 25 o'clock).
    public static func parseHTTPDate(_ value: String, now: Date) -> Date? {
        parseHTTPDate(trimmed(Array(value.utf8)), now: now)
    }

    // MARK: - Grammar

    private static func parseHTTPDate(_ bytes: [UInt8], now: Date) -> Date? {
        var scanner = Scanner(bytes)
        guard let dayName = scanner.letters() else { return nil }
        if scanner.skip(0x2C) {  // ","
            guard scanner.skip(0x20) else { return nil }
            if dayName.count == 3 {
                guard shortDayNames.contains(lowercased(dayName)) else { return nil }
                return imfFixdate(&scanner)
            }
            guard longDayNames.contains(lowercased(dayName)) else { return nil }
            return rfc850Date(&scanner, now: now)
        }
        guard dayName.count == 3, shortDayNames.contains(lowercased(dayName)), scanner.skip(0x20) else { return nil }
        return asctimeDate(&scanner)
    }

    /// `DD SP Mon SP YYYY SP HH:MM:SS SP GMT` (after `Day, `).
    private static func imfFixdate(_ scanner: inout Scanner) -> Date? {
        guard let day = scanner.digits(exactly: 2), scanner.skip(0x20),
            let month = scanner.month(), scanner.skip(0x20),
            let year = scanner.digits(exactly: 4), scanner.skip(0x20),
            let time = scanner.timeOfDay(), scanner.skip(0x20),
            scanner.gmt(), scanner.atEnd
        else { return nil }
        return CivilTime.date(year: year, month: month, day: day, time: time)
    }

    /// `DD-Mon-YY SP HH:MM:SS SP GMT` (after `Dayname, `).
    private static func rfc850Date(_ scanner: inout Scanner, now: Date) -> Date? {
        guard let day = scanner.digits(exactly: 2), scanner.skip(0x2D),
            let month = scanner.month(), scanner.skip(0x2D),
            let shortYear = scanner.digits(exactly: 2), scanner.skip(0x20),
            let time = scanner.timeOfDay(), scanner.skip(0x20),
            scanner.gmt(), scanner.atEnd
        else { return nil }
        // The most recent year ending in these two digits that is not more than 50 years after now.
        let currentYear = CivilTime.components(of: now).year
        var year = (currentYear / 100) * 100 + shortYear
        if year > currentYear + 50 { year -= 100 }
        if year < currentYear - 49 { year += 100 }
        return CivilTime.date(year: year, month: month, day: day, time: time)
    }

    /// `Mon SP (DD | SP D) SP HH:MM:SS SP YYYY` (after `Day `).
    private static func asctimeDate(_ scanner: inout Scanner) -> Date? {
        guard let month = scanner.month(), scanner.skip(0x20) else { return nil }
        let day: Int
        if scanner.skip(0x20) {
            guard let d = scanner.digits(exactly: 1) else { return nil }
            day = d
        } else {
            guard let d = scanner.digits(exactly: 2) else { return nil }
            day = d
        }
        guard scanner.skip(0x20), let time = scanner.timeOfDay(), scanner.skip(0x20),
            let year = scanner.digits(exactly: 4), scanner.atEnd
        else { return nil }
        return CivilTime.date(year: year, month: month, day: day, time: time)
    }

    private static let shortDayNames: Set<[UInt8]> = Set(
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map { Array($0.utf8) })
    private static let longDayNames: Set<[UInt8]> = Set(
        ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"].map { Array($0.utf8) })
    fileprivate static let monthNames: [[UInt8]] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ].map { Array($0.utf8) }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    fileprivate static func lowercased(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
    }

    /// Drops optional whitespace (space, tab) at both ends.
    private static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        var slice = bytes[...]
        while let first = slice.first, first == 0x20 || first == 0x09 { slice.removeFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 { slice.removeLast() }
        return Array(slice)
    }

    /// Reads the pieces of an HTTP-date from UTF-8 bytes.
    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index == bytes.count }

        mutating func skip(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// One or more ASCII letters.
        mutating func letters() -> ArraySlice<UInt8>? {
            let start = index
            while index < bytes.count, (bytes[index] | 0x20) >= 0x61, (bytes[index] | 0x20) <= 0x7A { index += 1 }
            return index > start ? bytes[start..<index] : nil
        }

        /// Exactly `count` decimal digits.
        mutating func digits(exactly count: Int) -> Int? {
            guard bytes.count - index >= count else { return nil }
            var value = 0
            for byte in bytes[index..<(index + count)] {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            index += count
            return value
        }

        /// A three-letter month name, 1-12.
        mutating func month() -> Int? {
            guard bytes.count - index >= 3 else { return nil }
            let name = RetryAfter.lowercased(bytes[index..<(index + 3)])
            guard let i = RetryAfter.monthNames.firstIndex(of: name) else { return nil }
            index += 3
            return i + 1
        }

        /// `HH:MM:SS`.
        mutating func timeOfDay() -> (hour: Int, minute: Int, second: Int)? {
            guard let h = digits(exactly: 2), skip(0x3A), let m = digits(exactly: 2), skip(0x3A),
                let s = digits(exactly: 2)
            else { return nil }
            return (h, m, s)
        }

        /// `GMT` (case-sensitive: RFC 9110 spells it so).
        mutating func gmt() -> Bool { skip(0x47) && skip(0x4D) && skip(0x54) }
    }
}

/// Proleptic Gregorian dates in UTC, computed without Foundation's calendars (Howard Hinnant's
/// days-from-civil algorithms): no locale or time-zone setting can change them.
package enum CivilTime {
    /// The date for a UTC civil time, or nil when it does not exist or lies outside the years
    /// 0001-9999. A leap second (:60) is read as the last second of the minute.
    static func date(year: Int, month: Int, day: Int, time: (hour: Int, minute: Int, second: Int)) -> Date? {
        // Years 0001-9999, the range ``components(of:)`` and every printer of dates keep to.
        guard (1...9999).contains(year), (1...12).contains(month), day >= 1,
            day <= CalendarDay.daysIn(month: month, year: year),
            (0...23).contains(time.hour), (0...59).contains(time.minute), (0...60).contains(time.second)
        else { return nil }
        let days = CalendarDay.dayNumber(year: year, month: month, day: day)
        let seconds = days * 86_400 + time.hour * 3_600 + time.minute * 60 + min(time.second, 59)
        return Date(timeIntervalSince1970: Double(seconds))
    }

    /// The UTC civil components of `date` (milliseconds rounded down).
    static func components(of date: Date) -> (
        year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, millisecond: Int
    ) {
        // Clamp to years 0001-9999 (NaN: 1970) so the conversion can never trap.
        let t = date.timeIntervalSince1970
        // Truncated to the millisecond, after half a microsecond is added: a time read as
        // `…14.982` is stored as 14.98199999… (binary), which must still write as .982 (found by
        // FuzzRetryAfter). Half a microsecond is a few ulps at today's times and far below a ms.
        let ms = Int64(
            ((t.isNaN ? 0 : min(max(t, -62_135_596_800), 253_402_300_799.999)) * 1000 + 0.0005).rounded(.down))
        let totalSeconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let millisecond = Int(ms - totalSeconds * 1000)
        let days = totalSeconds >= 0 ? totalSeconds / 86_400 : (totalSeconds - 86_399) / 86_400
        let secondOfDay = Int(totalSeconds - days * 86_400)
        let (year, month, day) = CalendarDay.civil(fromDayNumber: Int(days))
        return (year, month, day, secondOfDay / 3_600, (secondOfDay / 60) % 60, secondOfDay % 60, millisecond)
    }

    /// A UTC time written as RFC 3339 with `Z`, as the Swift runtime's backtracer writes it
    /// (`2026-12-06T06:30:14.979844Z`): any number of fraction digits (those past the
    /// nanosecond ignored), at most 64 characters in all; nil for anything else.
    ///
    /// Outside timestamps are parsed here rather than with Foundation's `ISO8601DateFormatter`,
    /// which takes the process down (SIGFPE in ICU) on a fraction of about 50 digits.
    package static func date(rfc3339 text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count >= 20, b.count <= 64 else { return nil }
        func isDigit(_ i: Int) -> Bool { b[i] >= 0x30 && b[i] <= 0x39 }
        // At most 4 digits each: the value cannot overflow.
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for i in range {
                guard isDigit(i) else { return nil }
                value = value * 10 + Int(b[i] - 0x30)
            }
            return value
        }
        guard let year = number(0..<4), b[4] == 0x2D, let month = number(5..<7), b[7] == 0x2D, let day = number(8..<10),
            b[10] == 0x54 || b[10] == 0x74, let hour = number(11..<13), b[13] == 0x3A, let minute = number(14..<16),
            b[16] == 0x3A, let second = number(17..<19), b[b.count - 1] == 0x5A || b[b.count - 1] == 0x7A,
            let whole = date(year: year, month: month, day: day, time: (hour, minute, second))
        else { return nil }
        guard b.count > 20 else { return b[19] == 0x5A || b[19] == 0x7A ? whole : nil }
        // A fraction: a dot and at least one digit, up to the Z.
        guard b[19] == 0x2E, b.count > 21, (20..<(b.count - 1)).allSatisfy(isDigit) else { return nil }
        var nanoseconds = 0
        for i in 20..<min(29, b.count - 1) { nanoseconds = nanoseconds * 10 + Int(b[i] - 0x30) }
        for _ in min(29, b.count - 1)..<29 { nanoseconds *= 10 }
        return whole.addingTimeInterval(Double(nanoseconds) / 1e9)
    }

    /// The UTC calendar day of `date`: `2026-01-31` (years clamped to 0001-9999). What
    /// `ISO8601DateFormatter` with `.withFullDate` writes in UTC, without building an ICU
    /// formatter (about a quarter of `Steward.start` went to that, for the disclosure).
    package static func day(_ date: Date) -> String {
        let c = components(of: date)
        func pad(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))"
    }

    /// `2026-01-31T08:05:09.042Z`.
    static func iso8601(_ date: Date) -> String {
        let c = components(of: date)
        func pad(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return
            "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T\(pad(c.hour, 2)):\(pad(c.minute, 2)):\(pad(c.second, 2)).\(pad(c.millisecond, 3))Z"
    }
}
