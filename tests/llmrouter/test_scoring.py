"""Golden tests of the pure formula (DESIGN.md, router section).

Expected values are computed by hand in the comments: q = quality x priority
multiplier, c = cost factor x priority multiplier, l = latency factor.
"""

from __future__ import annotations

import pytest

from llmrouter import scoring
from llmrouter.scoring import ProviderSpec, Query, Weights, decide

CLAUDE = ProviderSpec(
    "claude-sonnet-4",
    "Claude Sonnet 4",
    15.0,
    200_000,
    2000,
    0.95,
    frozenset({"coding", "reasoning", "creative", "analysis"}),
)
GPT = ProviderSpec(
    "gpt-4-turbo", "GPT-4 Turbo", 10.0, 128_000, 1500, 0.90, frozenset({"coding", "reasoning", "creative"})
)
GEMINI = ProviderSpec(
    "gemini-pro", "Gemini Pro", 7.0, 32_000, 1200, 0.85, frozenset({"reasoning", "creative", "analysis"})
)
LLAMA = ProviderSpec("local-llama", "Local Llama", 0.0, 8000, 800, 0.75, frozenset({"coding", "reasoning"}))
SEED = [CLAUDE, GPT, GEMINI, LLAMA]


def scores(decision: scoring.Decision) -> dict[str, float | None]:
    return {c.key: c.score for c in decision.candidates}


def test_worked_example_of_the_design_document_picks_local_llama():
    d = decide(SEED, Query(5000, "coding", "high", 3000), remaining_budget=100.0)
    s = scores(d)
    assert s["local-llama"] == pytest.approx(0.6048)  # 0.75*1.2=0.9; 1.0*0.8; 1-800/5000=0.84
    assert s["claude-sonnet-4"] == pytest.approx(0.1368)  # 1.14 * (0.25*0.8=0.2) * 0.6
    assert s["gpt-4-turbo"] == pytest.approx(0.3024)  # 1.08 * (0.5*0.8=0.4) * 0.7
    assert s["gemini-pro"] is None
    assert d.excluded == {"gemini-pro": "does not support coding tasks"}
    assert d.chosen.key == "local-llama"
    assert d.confidence == pytest.approx(0.6048)
    assert d.reasoning == "Selected for: cost-effective, meets latency requirements, supports coding tasks"


def test_serialized_scores_and_factors_carry_no_float_noise():
    d = decide(SEED, Query(5000, "coding", "high", 3000), remaining_budget=100.0)
    assert [c.score for c in d.candidates if c.key == "claude-sonnet-4"] == [0.13679999999999998]  # exact inside
    shown = {c["provider"]: c for c in d.candidates_as_dicts()}
    assert (shown["local-llama"]["score"], shown["gpt-4-turbo"]["score"], shown["claude-sonnet-4"]["score"]) == (
        0.6048,
        0.3024,
        0.1368,
    )
    assert shown["claude-sonnet-4"]["quality_factor"] == 1.14 and shown["gpt-4-turbo"]["latency_factor"] == 0.7
    assert shown["claude-sonnet-4"]["cost_factor"] == 0.2 and shown["local-llama"]["priority_multipliers"] == [1.2, 0.8]
    assert d.confidence == 0.6048
    for candidate in shown.values():
        for key in ("quality", "quality_factor", "cost_factor", "latency_factor", "score"):
            if key in candidate:
                assert len(repr(candidate[key]).split(".")[-1]) <= 6, (key, candidate)


def test_medium_priority_applies_no_multipliers():
    d = decide(SEED, Query(5000, "coding", "medium", 0), remaining_budget=100.0)
    s = scores(d)
    assert s["claude-sonnet-4"] == pytest.approx(0.1425)  # 0.95 * 0.25 * 0.6
    assert s["gpt-4-turbo"] == pytest.approx(0.315)  # 0.90 * 0.5 * 0.7
    assert s["local-llama"] == pytest.approx(0.63)  # 0.75 * 1.0 * 0.84
    assert d.chosen.key == "local-llama"


def test_low_priority_scales_quality_down_and_cost_factor_up_even_for_a_free_provider():
    d = decide(SEED, Query(5000, "reasoning", "low", 0), remaining_budget=100.0)
    s = scores(d)
    assert s["claude-sonnet-4"] == pytest.approx(0.166725)  # 0.855 * 0.325 * 0.6
    assert s["gpt-4-turbo"] == pytest.approx(0.36855)  # 0.81 * 0.65 * 0.7
    assert s["gemini-pro"] == pytest.approx(0.491283)  # 0.765 * 0.845 * 0.76
    assert s["local-llama"] == pytest.approx(0.7371)  # 0.675 * 1.3 * 0.84
    assert d.chosen.key == "local-llama"


def test_context_window_too_small_excludes_the_provider():
    d = decide(SEED, Query(10_000, "coding", "high", 0), remaining_budget=100.0)
    assert d.excluded["local-llama"] == "10000 tokens exceed its context window of 8000"
    assert scores(d)["gpt-4-turbo"] == pytest.approx(0.3024)
    assert d.chosen.key == "gpt-4-turbo"


def test_empty_task_type_matches_every_provider():
    d = decide(SEED, Query(5000, "", "medium", 0), remaining_budget=100.0)
    assert d.excluded == {}
    assert scores(d)["gemini-pro"] == pytest.approx(0.4199)  # 0.85 * 0.65 * 0.76
    assert d.chosen.key == "local-llama"
    assert "supports" not in d.reasoning


def test_latency_over_the_maximum_uses_the_0_3_factor():
    d = decide(SEED, Query(5000, "analysis", "medium", 1000), remaining_budget=100.0)
    s = scores(d)
    assert s["claude-sonnet-4"] == pytest.approx(0.07125)  # 0.95 * 0.25 * 0.3
    assert s["gemini-pro"] == pytest.approx(0.16575)  # 0.85 * 0.65 * 0.3
    assert d.chosen.key == "gemini-pro"
    # 1200 ms > 1000 ms: the latency reason does not hold.
    assert d.reasoning == "Selected for: cost-effective, supports analysis tasks"


def test_latency_equal_to_the_maximum_is_not_over_it():
    d = decide([LLAMA], Query(100, "", "medium", 800), remaining_budget=100.0)
    assert d.chosen.latency_factor == pytest.approx(0.84)


def test_request_over_the_remaining_budget_gets_the_0_1_cost_factor_without_a_hard_cap():
    d = decide(SEED, Query(5000, "analysis", "medium", 0), remaining_budget=0.05)
    s = scores(d)
    assert s["claude-sonnet-4"] == pytest.approx(0.057)  # 0.075 > 0.05: 0.95 * 0.1 * 0.6
    assert s["gemini-pro"] == pytest.approx(0.4199)  # 0.035 <= 0.05: unchanged
    d = decide(SEED, Query(5000, "analysis", "medium", 0), remaining_budget=0.01)
    assert scores(d)["gemini-pro"] == pytest.approx(0.0646)  # 0.85 * 0.1 * 0.76
    assert d.chosen.key == "gemini-pro"
    assert d.reasoning == "Selected for: meets latency requirements, supports analysis tasks"


def test_hard_cap_excludes_paid_providers_that_would_overspend():
    d = decide(SEED, Query(5000, "analysis", "medium", 0), remaining_budget=0.04, hard_cap_remaining=0.04)
    assert d.candidates[0].excluded == scoring.EXCLUDED_BUDGET
    assert "exceeds the remaining hard-capped budget" in d.excluded["claude-sonnet-4"]
    assert d.chosen.key == "gemini-pro" and d.chosen.score == pytest.approx(0.4199)


def test_free_provider_stays_routable_when_the_money_is_gone():
    d = decide(SEED, Query(5000, "coding", "medium", 0), remaining_budget=0.0, hard_cap_remaining=0.0)
    assert set(d.excluded) == {"claude-sonnet-4", "gpt-4-turbo", "gemini-pro"}
    assert d.chosen.key == "local-llama" and d.chosen.score == pytest.approx(0.63)
    # 0 is not under 10% of nothing: no "cost-effective".
    assert d.reasoning == "Selected for: meets latency requirements, supports coding tasks"


def test_no_money_and_no_free_provider_is_budget_exceeded():
    d = decide(SEED, Query(5000, "analysis", "medium", 0), remaining_budget=0.0, hard_cap_remaining=0.0)
    assert d.chosen is None
    assert d.error_code == "BUDGET_EXCEEDED"
    assert set(d.excluded) == {"claude-sonnet-4", "gpt-4-turbo", "gemini-pro", "local-llama"}


def test_no_capable_provider_is_no_suitable_provider():
    d = decide(SEED, Query(5000, "vision", "medium", 0))
    assert d.error_code == "NO_SUITABLE_PROVIDER"
    assert all(c.excluded == scoring.EXCLUDED_CAPABILITY for c in d.candidates)


def test_disabled_and_unhealthy_providers_are_excluded():
    from dataclasses import replace

    d = decide([replace(LLAMA, enabled=False), replace(GPT, healthy=False)], Query(10, "coding"))
    assert d.excluded == {"local-llama": "provider is disabled", "gpt-4-turbo": "provider is unhealthy"}
    assert d.error_code == "NO_SUITABLE_PROVIDER"


def test_ties_go_to_the_earlier_provider():
    a = ProviderSpec("a", "A", 0.0, 1000, 100, 0.5, frozenset())
    b = ProviderSpec("b", "B", 0.0, 1000, 100, 0.5, frozenset())
    assert decide([a, b], Query(10)).chosen.key == "a"
    assert decide([b, a], Query(10)).chosen.key == "b"


def test_high_quality_match_and_confidence_clamped_to_one():
    perfect = ProviderSpec("p", "Perfect", 0.0, 1000, 0, 1.0, frozenset({"coding"}))
    d = decide([perfect], Query(10, "coding", "high"), remaining_budget=100.0)
    assert d.chosen.score == pytest.approx(0.96)  # 1.2 * 0.8 * 1.0
    assert d.reasoning.startswith("Selected for: high quality match, cost-effective")
    d = decide([perfect], Query(10, "coding", "low"), remaining_budget=100.0)
    assert d.chosen.score == pytest.approx(1.17)  # 0.9 * 1.3 * 1.0
    assert d.confidence == 1.0


def test_price_above_the_cost_scale_gives_a_negative_score_and_zero_confidence():
    pricey = ProviderSpec("x", "X", 25.0, 1000, 0, 0.5, frozenset())
    d = decide([pricey], Query(10))
    assert d.chosen.score == pytest.approx(-0.125)  # 0.5 * (1 - 25/20) * 1.0
    assert d.confidence == 0.0


def test_no_reason_holds_gives_best_available_option():
    slow = ProviderSpec("s", "S", 10.0, 1000, 9000, 0.5, frozenset())
    d = decide([slow], Query(1000, "", "medium", 100), remaining_budget=0.0)
    assert d.reasoning == "Selected for: best available option"


def test_weights_replace_the_constants():
    w = Weights(cost_scale=40.0, latency_scale_ms=10_000.0, high_quality_multiplier=1.0, high_cost_multiplier=1.0)
    d = decide([CLAUDE], Query(5000, "coding", "high"), weights=w)
    assert d.chosen.score == pytest.approx(0.95 * 0.625 * 0.8)  # 1-15/40, 1-2000/10000


def test_unbounded_budget_is_the_default():
    d = decide(SEED, Query(5000, "coding", "high", 3000))
    assert d.chosen.key == "local-llama"
    assert d.reasoning.startswith("Selected for: cost-effective")
