from server.credentials.codec import Category
from server.credentials.rules import category_name_set, category_names


def test_category_names_keep_the_flags_order_and_each_call_gets_its_own_list():
    flags = Category.DISABLED | Category.SENIOR_65_PLUS
    names = category_names(flags)
    assert names == ["senior_65_plus", "disabled"]
    names.append("changed by the caller")
    assert category_names(int(flags)) == ["senior_65_plus", "disabled"]
    assert category_name_set(flags) == {"senior_65_plus", "disabled"}
    assert category_names(Category.NONE) == []
