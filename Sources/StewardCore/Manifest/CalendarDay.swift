import struct Foundation.Date

/// Converts between `Date` and `YYYY-MM-DD` days (UTC, proleptic Gregorian, years
/// 0001–9999), without a calendar object or a time zone database. Used by the manifest's
/// dates, the audit ledger's days and HTTP-date parsing.
enum CalendarDay {
    /// The first and last day numbers (days since 1970-01-01) of years 0001–9999.
    private static let representable = dayNumber(year: 1, month: 1, day: 1)...dayNumber(year: 9999, month: 12, day: 31)

    /// The start (00:00 UTC) of the day written `YYYY-MM-DD`, or nil if `text` is not exactly
    /// such a date or names a day that does not exist (2027-02-29).
    static func date(from text: String) -> Date? {
        let utf8 = Array(text.utf8)
        guard utf8.count == 10, utf8[4] == UInt8(ascii: "-"), utf8[7] == UInt8(ascii: "-"),
            let year = number(utf8[0..<4]), let month = number(utf8[5..<7]), let day = number(utf8[8..<10]),
            year >= 1, (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day)
        else { return nil }
        return Date(timeIntervalSince1970: Double(dayNumber(year: year, month: month, day: day)) * 86_400)
    }

    /// The UTC day holding `date`, as `YYYY-MM-DD`, or nil outside years 0001–9999 (or for a
    /// date that is not finite).
    static func string(from date: Date) -> String? {
        guard let days = dayNumber(of: date) else { return nil }
        let (year, month, day) = civil(fromDayNumber: days)
        func padded(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(padded(year, 4))-\(padded(month, 2))-\(padded(day, 2))"
    }

    /// The number of the UTC day holding `date` (days since 1970-01-01), or nil outside years
    /// 0001–9999.
    static func dayNumber(of date: Date) -> Int? {
        let days = (date.timeIntervalSince1970 / 86_400).rounded(.down)
        guard days.isFinite, days >= Double(representable.lowerBound), days <= Double(representable.upperBound) else {
            return nil
        }
        return Int(days)
    }

    private static func number(_ digits: ArraySlice<UInt8>) -> Int? {
        var value = 0
        for byte in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    static func dayNumber(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The civil date of a day number (Howard Hinnant's `civil_from_days`).
    static func civil(fromDayNumber days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
