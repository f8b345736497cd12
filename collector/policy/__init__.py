"""The policy engine (issue 5; A9-T3.4, A9-M3.5): packs as data, typed rules over report
facts, evaluation per host × check. See docs/policies.md."""
