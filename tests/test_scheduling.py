"""Delivery dates: golden tests of the pure planner and of estimate_delivery on live rows."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from marketplace.jobs import transition
from marketplace.scheduling import live
from marketplace.scheduling import planning as sch
from marketplace.scheduling.planning import (
    DEFAULT_OPENING_HOURS as HOURS,
)
from marketplace.scheduling.planning import (
    PrinterSlot,
    WorkItem,
    delivery_date,
    plan_finish,
)
from tests.hub_factories import make_order, make_printer

BERLIN = HOURS.tz


def local(y, m, d, hh, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=BERLIN)


def printer(pid=1, *, free_at, bed_clear=True, material="PLA", colour="Schwarz",
            build=(250, 210, 210), available=True):
    return PrinterSlot(pid, build, material, colour, free_at, bed_clear, available)


WED_10 = local(2026, 11, 25, 10)  # Wednesday


@pytest.mark.db_independent
def test_lower_saxony_holidays_2026():
    days = sch.public_holidays(2026, "NI")
    assert date(2026, 10, 31) in days  # Reformationstag
    assert date(2026, 5, 14) in days  # Christi Himmelfahrt
    assert date(2026, 5, 25) in days  # Pfingstmontag
    assert date(2026, 4, 3) in days and date(2026, 4, 6) in days
    assert date(2026, 6, 4) not in days  # Fronleichnam is not a holiday in Lower Saxony
    assert len(days) == 10


# (state, year) -> the holidays beyond the nine that every state keeps (New Year, Good Friday,
# Easter Monday, 1 May, Ascension, Whit Monday, 3 October, 25 and 26 December)
NATIONWIDE = {(1, 1), (5, 1), (10, 3), (12, 25), (12, 26)}
EASTER = {2017: date(2017, 4, 16), 2018: date(2018, 4, 1), 2025: date(2025, 4, 20),
          2026: date(2026, 4, 5), 2027: date(2027, 3, 28), 2038: date(2038, 4, 25)}


@pytest.mark.db_independent
@pytest.mark.parametrize("region,year,extra", [
    ("NI", 2026, {date(2026, 10, 31)}),  # Reformationstag (Lower Saxony since 2018)
    ("NI", 2017, {date(2017, 10, 31)}),  # 500 years of the Reformation: everywhere, once
    ("BY", 2026, {date(2026, 1, 6), date(2026, 6, 4), date(2026, 11, 1)}),  # Fronleichnam
    ("Augsburg", 2026, {date(2026, 1, 6), date(2026, 6, 4), date(2026, 8, 8),
                        date(2026, 8, 15), date(2026, 11, 1)}),  # Friedensfest, Mariä Himmelf.
    ("BW", 2027, {date(2027, 1, 6), date(2027, 5, 27), date(2027, 11, 1)}),  # Heilige Drei Könige
    ("SN", 2025, {date(2025, 10, 31), date(2025, 11, 19)}),  # Buß- und Bettag
    ("BE", 2025, {date(2025, 3, 8), date(2025, 5, 8)}),  # Frauentag; 80 years since 8 May 1945
    ("TH", 2026, {date(2026, 9, 20), date(2026, 10, 31)}),  # Weltkindertag
    ("HH", 2038, {date(2038, 10, 31)}),
    ("BB", 2026, {date(2026, 4, 5), date(2026, 5, 24), date(2026, 10, 31)}),  # Ostersonntag
])
def test_public_holidays_of_german_states(region, year, extra):
    easter = EASTER[year]
    common = {date(year, m, d) for m, d in NATIONWIDE} | {
        easter - timedelta(days=2), easter + timedelta(days=1), easter + timedelta(days=39),
        easter + timedelta(days=50)}
    assert sch.public_holidays(year, region) == frozenset(common | extra)


@pytest.mark.db_independent
def test_every_german_state_is_a_holiday_region_and_unknown_ones_are_refused():
    states = {"BB", "BE", "BW", "BY", "HB", "HE", "HH", "MV", "NI", "NW", "RP", "SH", "SL",
              "SN", "ST", "TH"}
    assert states <= set(sch.HOLIDAY_REGIONS) and "" in sch.HOLIDAY_REGIONS
    assert sch.public_holidays(2026, "") == frozenset()
    with pytest.raises(ValueError, match="unknown holiday region"):
        sch.public_holidays(2026, "Bavaria")


@pytest.mark.db_independent
def test_a_state_holiday_moves_the_delivery_date():
    thursday = local(2026, 6, 3, 12)  # the day before Fronleichnam (4 June 2026)
    assert delivery_date(thursday, HOURS) == date(2026, 6, 4)  # NI works on Corpus Christi
    bavaria = sch.OpeningHours(weekly=HOURS.weekly, holiday_region="BY")
    assert delivery_date(thursday, bavaria) == date(2026, 6, 5)


@pytest.mark.db_independent
@pytest.mark.parametrize("moment,expected", [
    (local(2026, 11, 25, 10), local(2026, 11, 25, 10)),  # open
    (local(2026, 11, 25, 6, 30), local(2026, 11, 25, 7)),  # before opening
    (local(2026, 11, 25, 18), local(2026, 11, 26, 7)),  # closing time: next morning
    (local(2026, 11, 27, 19), local(2026, 11, 30, 7)),  # Friday evening -> Monday
    (local(2026, 12, 24, 18, 30), local(2026, 12, 28, 7)),  # Christmas + weekend
    (datetime(2026, 11, 25, 5, 0, tzinfo=UTC), local(2026, 11, 25, 7)),  # UTC input
])
def test_next_staffed(moment, expected):
    assert HOURS.next_staffed(moment) == expected


@pytest.mark.db_independent
def test_bed_clear_printer_starts_at_once_and_a_handling_day_follows():
    finish = plan_finish([printer(free_at=WED_10)], [], WorkItem(7200, "PLA"), 1, HOURS)
    assert finish == local(2026, 11, 25, 12)
    assert delivery_date(finish, HOURS) == date(2026, 11, 26)


@pytest.mark.db_independent
def test_a_job_runs_overnight_but_the_next_one_starts_only_when_staffed():
    # 3 pieces of 4 h on one printer from Wednesday 10:00: 10-14, 14:10-18:10, Thu 07:10-11:10
    finish = plan_finish([printer(free_at=WED_10)], [], WorkItem(4 * 3600, "PLA"), 3, HOURS)
    assert finish == local(2026, 11, 26, 11, 10)
    assert delivery_date(finish, HOURS) == date(2026, 11, 27)


@pytest.mark.db_independent
def test_pieces_spread_over_printers():
    item = WorkItem(3 * 3600, "PLA")
    one = plan_finish([printer(1, free_at=WED_10)], [], item, 3, HOURS)
    two = plan_finish([printer(1, free_at=WED_10), printer(2, free_at=WED_10)], [], item, 3,
                      HOURS)
    assert one == local(2026, 11, 25, 19, 20)  # 10-13, 13:10-16:10, 16:20-19:20
    assert two == local(2026, 11, 25, 16, 10)
    assert delivery_date(one, HOURS) == date(2026, 11, 27)  # taken off Thursday morning
    assert delivery_date(two, HOURS) == date(2026, 11, 26)


@pytest.mark.db_independent
def test_work_ahead_delays_the_order():
    ahead = [WorkItem(20 * 3600, "PLA")]  # one long job takes the only printer until Thu 06:00
    finish = plan_finish([printer(free_at=WED_10)], ahead, WorkItem(3600, "PLA"), 1, HOURS)
    assert finish == local(2026, 11, 26, 8, 10)  # bed cleared at 07:00, +10 min, +1 h


@pytest.mark.db_independent
def test_material_change_needs_staff_and_time():
    evening = local(2026, 11, 25, 20)
    same = plan_finish([printer(free_at=evening)], [], WorkItem(7200, "PLA"), 1, HOURS)
    other = plan_finish([printer(free_at=evening, material="PETG")], [],
                        WorkItem(7200, "PLA"), 1, HOURS)
    colour = plan_finish([printer(free_at=evening)], [], WorkItem(7200, "PLA", "Weiß"), 1, HOURS)
    assert same == local(2026, 11, 25, 22)  # started by the dispatcher at once
    assert other == local(2026, 11, 26, 9, 15)  # Thu 07:00 + 15 min spool change + 2 h
    assert colour == other


@pytest.mark.db_independent
def test_capable_printers_only():
    big_part = WorkItem(3600, "PLA", bbox_mm=(300, 100, 50))
    small = printer(1, free_at=WED_10)
    large = printer(2, free_at=local(2026, 11, 30, 9), build=(350, 350, 350))
    assert plan_finish([small], [], big_part, 1, HOURS) is None
    assert plan_finish([small, large], [], big_part, 1, HOURS) == local(2026, 11, 30, 10)
    # turned by 90 degrees it fits 250 x 210
    assert sch.fits((200, 240, 100), (250, 210, 210))
    assert not sch.fits((20, 20, 211), (250, 210, 210))
    resting = printer(3, free_at=WED_10, available=False)
    assert plan_finish([resting], [], WorkItem(60, "PLA"), 1, HOURS) is None


@pytest.mark.db_independent
def test_holidays_and_weekends_move_the_date():
    finish = local(2027, 3, 25, 12)  # Thursday before Good Friday
    assert delivery_date(finish, HOURS) == date(2027, 3, 30)
    finish = local(2026, 11, 27, 12)  # Friday noon
    assert delivery_date(finish, HOURS) == date(2026, 11, 30)
    saturday = sch.OpeningHours(weekly=HOURS.weekly[:5] + ((time(9), time(13)), None))
    assert delivery_date(finish, saturday) == date(2026, 11, 28)


# --- on live rows -------------------------------------------------------------------------------

NOW_UTC = datetime(2026, 11, 25, 9, 0)  # naive UTC = Wednesday 10:00 in Berlin


def test_no_date_without_a_printer_in_service_that_takes_the_part(app):
    """Issue 9: no date is promised without a printer that can take the part (the page says
    the hub confirms it); a nominal printer used to stand in for none."""
    from marketplace.extensions import db

    kw = dict(print_time_s=7200, quantity=1, material_code="PLA", colour="any",
              bbox_mm=(10, 10, 10), now=NOW_UTC)
    assert live.estimate_delivery(db.session, **kw) is None  # no printer at all
    make_printer(state="maintenance")
    db.session.commit()
    assert live.estimate_delivery(db.session, **kw) is None  # none in service
    assert live.service_volumes(db.session) == []
    make_printer(state="available")
    db.session.commit()
    assert live.estimate_delivery(db.session, **kw) == date(2026, 11, 26)
    assert live.estimate_delivery(db.session, **{**kw, "bbox_mm": (300, 20, 10)}) is None
    assert live.service_volumes(db.session) == [(250.0, 210.0, 210.0)]


@pytest.mark.db_independent
def test_size_gate_helpers():
    volumes = [(250, 210, 210), (360, 360, 400)]
    assert sch.fits_any((355, 20, 390), volumes) and not sch.fits_any((370, 20, 10), volumes)
    assert sch.fits_any((200, 240, 10), [(250, 210, 210)])  # turned a quarter
    assert sch.largest_volume(volumes) == (360.0, 360.0, 400.0)
    assert sch.largest_volume([]) is None
    # 951 x 864 x 660 mm (an X-carriage read as inches) fits the large printer at 37 %
    assert sch.scale_to_fit((951, 864, 660), volumes) == pytest.approx(360 / 951)
    assert sch.scale_to_fit((10, 10, 10), volumes) == 1.0


def test_estimate_delivery_counts_the_live_queue(app):
    from marketplace.extensions import db

    p = make_printer(state="printing")
    make_printer(state="maintenance")
    running = make_order(print_time_s=10 * 3600).jobs[0]
    for state in ("approved", "queued", "dispatching"):
        transition(running, state, actor="test")
    transition(running, "printing", actor="dispatcher", printer_id=p.id, progress_percent=50.0)
    db.session.commit()
    # 5 h left on the only working printer: free 15:00, bed cleared, 15:10 + 2 h = 17:10 Wed
    kw = dict(print_time_s=7200, quantity=1, material_code="PLA", colour="any",
              bbox_mm=(10, 10, 10), now=NOW_UTC)
    assert live.estimate_delivery(db.session, **kw) == date(2026, 11, 26)
    # a waiting order of 4 h with priority 0 goes first: 15:10-19:10, ours Thu 07:10-09:10
    make_order(print_time_s=4 * 3600)
    db.session.commit()
    assert live.estimate_delivery(db.session, **kw) == date(2026, 11, 27)
    # an urgent order (priority 5) does not wait behind it
    assert live.estimate_delivery(db.session, priority=5, **kw) == date(2026, 11, 26)
    # opening hours from the settings: open on Saturday moves Friday's delivery
    from marketplace.settings.operations import set_opening_hours

    make_order(print_time_s=20 * 3600)
    db.session.commit()
    assert live.estimate_delivery(db.session, **kw) == date(2026, 11, 30)
    set_opening_hours({"weekly": {"mon": ["07:00", "18:00"], "tue": ["07:00", "18:00"],
                                  "wed": ["07:00", "18:00"], "thu": ["07:00", "18:00"],
                                  "fri": ["07:00", "18:00"], "sat": ["08:00", "12:00"]}})
    db.session.commit()
    assert live.estimate_delivery(db.session, **kw) == date(2026, 11, 28)


@pytest.mark.db_independent
def test_staff_calendar_agrees_with_opening_hours():
    from datetime import timedelta

    hours = sch.OpeningHours(weekly=HOURS.weekly[:5] + ((time(9), time(13)), None),
                             closed_dates=frozenset({date(2026, 12, 29)}))
    start = local(2026, 12, 20, 3)
    calendar = sch.StaffCalendar(hours, start)
    moment = start
    for _ in range(2000):  # every 37 minutes over ~7 weeks, across Christmas and New Year
        assert calendar.next_staffed(moment) == hours.next_staffed(moment), moment
        moment += timedelta(minutes=37)


@pytest.mark.db_independent
def test_a_hub_without_unattended_printing_starts_only_what_ends_before_closing():
    attended = sch.OpeningHours(weekly=HOURS.weekly, unattended=False)
    five_pm = local(2026, 11, 25, 17)
    two_hours = WorkItem(7200, "PLA")
    # unattended: the dispatcher starts it at once and it ends at 19:00
    assert plan_finish([printer(free_at=five_pm)], [], two_hours, 1, HOURS) == local(
        2026, 11, 25, 19)
    # attended only: it would end after 18:00, so it starts on Thursday at 07:00
    assert plan_finish([printer(free_at=five_pm)], [], two_hours, 1, attended) == local(
        2026, 11, 26, 9)
    # half an hour fits before closing
    assert plan_finish([printer(free_at=five_pm)], [], WorkItem(1800, "PLA"), 1,
                       attended) == local(2026, 11, 25, 17, 30)
    # a 14 h job never fits an 11 h opening: it starts at the next opening (Thu 07:00)
    assert plan_finish([printer(free_at=five_pm)], [], WorkItem(14 * 3600, "PLA"), 1,
                       attended) == local(2026, 11, 26, 21)
    # two 4 h pieces on one printer: 07:00-11:00 and, after clearing, 11:10-15:10
    assert plan_finish([printer(free_at=local(2026, 11, 26, 6))], [], WorkItem(4 * 3600, "PLA"),
                       2, attended) == local(2026, 11, 26, 15, 10)
