from queues.announce import AnnounceRules, Told, decide

RULES = AnnounceRules(every=60, min_agents=2)


def test_the_first_announcement_tells_position_and_wait_rounded_up_to_minutes():
    a, told = decide(RULES, Told(), 0.0, 3, 185.0, serving=4)
    assert (a.position, a.ewt_minutes) == (3, 4) and told == Told(0.0, 4)


def test_nothing_is_said_before_the_interval():
    a, told = decide(RULES, Told(0.0, 4), 59.0, 2, 100.0, serving=4)
    assert a.empty and told == Told(0.0, 4)


def test_the_wait_is_only_said_again_when_it_improved():
    a, told = decide(RULES, Told(0.0, 4), 60.0, 2, 200.0, serving=4)  # 4 min: no better
    assert (a.position, a.ewt_minutes) == (2, None) and told == Told(60.0, 4)
    a, told = decide(RULES, told, 120.0, 1, 110.0, serving=4)  # 2 min: better
    assert a.ewt_minutes == 2


def test_with_too_few_agents_serving_no_wait_is_estimated():
    a, _ = decide(RULES, Told(), 0.0, 1, 30.0, serving=1)
    assert (a.position, a.ewt_minutes) == (1, None)


def test_under_a_minute_is_said_as_such_and_unknown_waits_are_not_said():
    assert decide(RULES, Told(), 0.0, 1, 40.0, serving=3)[0].ewt_minutes == 0
    assert decide(RULES, Told(), 0.0, 1, None, serving=3)[0].ewt_minutes is None


def test_announcements_can_be_switched_off():
    a, _ = decide(AnnounceRules(position=False, ewt=False), Told(), 0.0, 1, 90.0, serving=3)
    assert a.empty
