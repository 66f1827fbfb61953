from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote_plus, urlsplit

import numpy as np
import pytest

from monitor.dedupe import (
    BANDS,
    NUM_PERM,
    ROWS,
    TRACKING_PARAMS,
    TRACKING_PREFIXES,
    canonical_url,
    content_hash,
    is_near_duplicate,
    signature_bands,
    similarity,
    text_signature,
    tokens,
    word_count,
)

# ---------------------------------------------------------------------------- canonical_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM", "http://example.com/"),
        ("https://example.com:443/news/", "https://example.com/news/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://www.who.int/news/item#section-2", "https://www.who.int/news/item"),
        (
            "https://www.who.int/news?utm_source=tw&UTM_Medium=social&id=7&fbclid=x&gclid=y",
            "https://www.who.int/news?id=7",
        ),
        (
            "https://health.gov.az/x?mc_cid=1&mc_eid=2&_ga=3&_hsenc=4&_hsmi=5&igshid=6&"
            "ref_src=twsrc&spm=a.b&dclid=7&yclid=8&msclkid=9&utm_campaign=z",
            "https://health.gov.az/x",
        ),
        ("https://example.com/list?b=2&a=1&c=3", "https://example.com/list?a=1&b=2&c=3"),
        ("https://example.com/list?b=2&a=9&a=1", "https://example.com/list?a=9&a=1&b=2"),
        ("https://example.com/?&&q=1&&", "https://example.com/?q=1"),
        ("https://example.com/?utm_source=x", "https://example.com/"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/news/", "https://example.com/news/"),  # trailing slash kept
        ("https://example.com/news", "https://example.com/news"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/%7euser/%41%62c", "https://example.com/~user/Abc"),
        ("https://example.com/a%2fb?x=%e2%82%ac", "https://example.com/a%2Fb?x=%E2%82%AC"),
        ("https://example.com/new report", "https://example.com/new%20report"),
        ("https://example.com/€?q=ə", "https://example.com/%E2%82%AC?q=%C9%99"),
        ("https://example.com/%", "https://example.com/%25"),
        ("https://bücher.de/a", "https://xn--bcher-kva.de/a"),
        ("https://Səhiyyə.AZ/", "https://xn--shiyy-elce.az/"),
        ("https://BÜCHER.de/", "https://xn--bcher-kva.de/"),
        ("https://example.com./a", "https://example.com/a"),
        ("http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("https://example.com/?q=a+b&r=a%20b", "https://example.com/?q=a+b&r=a%20b"),
        ("https://example.com/?utm%5Fsource=x&k", "https://example.com/?k"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected
    assert canonical_url(expected) == expected


def test_canonical_url_leaves_other_urls_alone() -> None:
    assert canonical_url("mailto:Press@Example.org") == "mailto:Press@Example.org"
    assert canonical_url("FTP://Example.org/file#x") == "ftp://Example.org/file"
    assert canonical_url("/relative/path#x") == "/relative/path"


# Property tests need hypothesis (a dev dependency); without it the examples above
# still check idempotence.
if importlib.util.find_spec("hypothesis") is not None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    _segment = st.lists(
        st.sampled_from([*"abcXYZ019-._~%/ +&=?#éəЖ中", "%2F", "%7e", "%E2%82%AC", "..", "./"]),
        max_size=8,
    ).map("".join)
    _name = st.sampled_from(["a", "B", "id", "utm_source", "UTM_term", "fbclid", "q", "q%5F", ""])
    _host = st.sampled_from(
        ["example.com", "EXAMPLE.com", "www.who.int.", "bücher.de", "xn--bcher-kva.de",
         "[::1]", "127.0.0.1", "səhiyyə.az", "a_b.example"]
    )

    @st.composite
    def _urls(draw: st.DrawFn) -> str:
        scheme = draw(st.sampled_from(["http", "https", "HTTPS", "ftp"]))
        port = draw(st.sampled_from(["", ":80", ":443", ":8080", ":"]))
        path = "/".join(draw(st.lists(_segment, max_size=4)))
        pairs = draw(st.lists(st.tuples(_name, _segment), max_size=5))
        query = "&".join(f"{k}={v}" for k, v in pairs)
        fragment = draw(st.sampled_from(["", "#", "#top", "#!/route"]))
        return f"{scheme}://{draw(_host)}{port}/{path}" + (f"?{query}" if query else "") + fragment

    @settings(max_examples=400, deadline=None, database=None)
    @given(_urls())
    def test_canonical_url_idempotent(url: str) -> None:
        once = canonical_url(url)
        assert canonical_url(once) == once
        assert "#" not in once
        if not once.startswith(("http://", "https://")):
            return
        raw = [item.partition("=")[0] for item in urlsplit(once).query.split("&") if item]
        assert raw == sorted(raw)
        names = [unquote_plus(name).lower() for name in raw]
        assert not [n for n in names if n in TRACKING_PARAMS or n.startswith(TRACKING_PREFIXES)]

    @settings(max_examples=300, deadline=None, database=None)
    @given(st.text(max_size=60))
    def test_canonical_url_idempotent_on_any_text(url: str) -> None:
        once = canonical_url(url)
        assert canonical_url(once) == once


# ---------------------------------------------------------------------------- texts

# Two different press releases in one agency's style, written for these tests.
RELEASE_A = """Azerbaijan and WHO sign agreement on primary health care
Baku, 14 May. The Ministry of Health of the Republic of Azerbaijan and the World Health
Organization Regional Office for Europe signed a two-year cooperation agreement on
strengthening primary health care. The document was signed by the Minister of Health and
the WHO Regional Director during a meeting at the ministry. Under the agreement, WHO
experts will help the ministry train family doctors and nurses in twelve rural districts,
update national clinical protocols for diabetes and hypertension, and introduce an
electronic referral system between polyclinics and district hospitals. The minister said
that primary care is the foundation of the health system and that the partnership will
bring services closer to people in the regions. The Regional Director praised the
progress made in recent years in child immunisation and maternal health, and noted that
the new programme will pay special attention to the prevention of noncommunicable
diseases, which cause most deaths in the country. The parties also discussed joint work
on antimicrobial resistance, the supply of essential medicines and the preparation of a
national health workforce strategy. A working group of ministry and WHO specialists will
meet every quarter to review the implementation of the agreement and report on results.
The first training courses for family doctors are planned to begin in September in
Ganja, Sheki and Lankaran, with more than three hundred participants expected this year."""

RELEASE_B = """Azerbaijan and Türkiye expand cooperation in medical education
Baku, 21 May. The Ministry of Health of the Republic of Azerbaijan hosted a delegation of
the Ministry of Health of the Republic of Türkiye led by the Deputy Minister. The sides
discussed the exchange of residents between university hospitals, joint continuing
education courses for surgeons and anaesthetists, and cooperation in emergency medicine.
The deputy minister said that Turkish hospitals are ready to receive twenty young doctors
from Azerbaijan each year for specialised training in cardiology, oncology and
transplantation. The Azerbaijani side proposed to establish a joint simulation centre in
Baku where emergency teams from both countries could practise trauma care and disaster
response. Both delegations agreed to prepare a memorandum on the mutual recognition of
continuing medical education credits before the end of the year. The meeting also touched
on pharmaceutical regulation, the registration of medicines produced in both countries,
and the digitalisation of patient records. At the end of the visit, the guests toured the
Republican Clinical Hospital and the new national blood centre, where they were briefed
on the introduction of modern laboratory equipment and the training of transfusion
specialists. The next meeting of the joint working group will take place in Ankara in
the autumn."""

BOILERPLATE = (
    "\nShare this article on Facebook, X and LinkedIn. Subscribe to the newsletter of the "
    "Ministry of Health to receive the latest news. All rights reserved."
)


def _edits(text: str) -> dict[str, str]:
    lines = text.split("\n")
    body = "\n".join(lines[1:])
    return {
        "headline": "WHO and Azerbaijan agree two-year programme for family medicine\n" + body,
        "sentence added": text.replace(
            "report on results.",
            "report on results. The agreement can be extended for two more years by mutual "
            "consent of the parties.",
        ),
        "words changed": text.replace("twelve", "fourteen").replace("quarter", "month")
        .replace("September", "October"),
        "boilerplate": text + BOILERPLATE,
        "whitespace and case": "  " + text.upper().replace("\n", "  \n\n "),
    }


@pytest.mark.parametrize("kind", list(_edits(RELEASE_A)))
def test_edited_copies_are_near_duplicates(kind: str) -> None:
    edited = _edits(RELEASE_A)[kind]
    a, b = text_signature(RELEASE_A), text_signature(edited)
    assert similarity(a, b) >= 0.85, kind
    assert is_near_duplicate(a, b)
    # LSH finds the pair: at least one band equal (at the same band number)
    shared = [i for i, (x, y) in enumerate(zip(signature_bands(a), signature_bands(b),
                                               strict=True)) if x == y]
    assert shared, kind


def test_different_articles_are_not_near_duplicates() -> None:
    a, b = text_signature(RELEASE_A), text_signature(RELEASE_B)
    assert similarity(a, b) < 0.2
    assert not is_near_duplicate(a, b)
    assert not set(enumerate(signature_bands(a))) & set(enumerate(signature_bands(b)))
    # a different article with the same boilerplate is still different
    c = text_signature(RELEASE_B + BOILERPLATE)
    assert not is_near_duplicate(text_signature(RELEASE_A + BOILERPLATE), c)


RU_A = (
    "Министерство здравоохранения Азербайджана и Всемирная организация здравоохранения "
    "подписали соглашение о сотрудничестве в области первичной медико-санитарной помощи. "
    "Эксперты ВОЗ помогут обучить семейных врачей и медсестёр в двенадцати сельских "
    "районах, обновить национальные клинические протоколы по диабету и гипертонии и "
    "внедрить электронную систему направлений между поликлиниками и районными больницами. "
    "Министр отметил, что первичная помощь является основой системы здравоохранения. "
    "Рабочая группа специалистов министерства и ВОЗ будет собираться каждый квартал, "
    "чтобы оценивать выполнение соглашения и докладывать о результатах. Первые курсы для "
    "семейных врачей начнутся в сентябре в Гяндже, Шеки и Ленкорани."
)
AZ_A = (
    "Azərbaycan Respublikasının Səhiyyə Nazirliyi ilə Ümumdünya Səhiyyə Təşkilatı ilkin "
    "tibbi-sanitariya yardımının gücləndirilməsi sahəsində əməkdaşlıq sazişi imzalayıb. "
    "ÜST ekspertləri on iki kənd rayonunda ailə həkimlərinin və tibb bacılarının "
    "hazırlanmasına, diabet və hipertoniya üzrə milli klinik protokolların yenilənməsinə "
    "və poliklinikalarla rayon xəstəxanaları arasında elektron göndəriş sisteminin "
    "tətbiqinə kömək edəcək. Nazir bildirib ki, ilkin tibbi yardım səhiyyə sisteminin "
    "təməlidir. Nazirlik və ÜST mütəxəssislərindən ibarət işçi qrupu hər rüb toplanaraq "
    "sazişin icrasını qiymətləndirəcək. Ailə həkimləri üçün ilk kurslar sentyabrda "
    "Gəncə, Şəki və Lənkəranda başlayacaq. Görüşdə həmçinin antimikrob müqavimət, əsas "
    "dərman vasitələrinin təchizatı və milli səhiyyə kadr strategiyasının hazırlanması "
    "məsələləri müzakirə olunub. ÜST-ün regional direktoru son illərdə uşaqların "
    "peyvəndlənməsi və ana sağlamlığı sahəsində əldə olunmuş nəticələri yüksək qiymətləndirib."
)
ZH_A = (
    "阿塞拜疆卫生部与世界卫生组织欧洲区域办事处签署了为期两年的合作协议，旨在加强初级卫生保健。"
    "根据协议，世卫组织专家将帮助卫生部在十二个农村地区培训家庭医生和护士，更新糖尿病和高血压的"
    "国家临床指南，并在综合诊所和地区医院之间引入电子转诊系统。部长表示，初级卫生保健是卫生系统的"
    "基础，这一伙伴关系将使服务更贴近各地区的民众。区域主任赞扬了近年来在儿童免疫和孕产妇健康方面"
    "取得的进展，并指出新方案将特别关注非传染性疾病的预防。双方还讨论了抗微生物药物耐药性、基本"
    "药物供应以及制定国家卫生人力战略方面的合作。卫生部和世卫组织专家组成的工作组将每季度开会一次，"
    "审查协议的执行情况。首批家庭医生培训课程计划于九月在占贾、舍基和连科兰开始。"
)
ZH_B = (
    "中国国家卫生健康委员会与哈萨克斯坦卫生部举行视频会议，讨论传统医学合作和边境地区传染病联防"
    "联控机制。双方同意在阿拉木图建立中医药中心，开展针灸和中药临床研究，并互派医学生进行交流学习。"
    "哈方代表介绍了本国医疗保险改革的进展，中方介绍了县域医共体建设经验。会议决定明年在乌鲁木齐"
    "举办丝绸之路卫生合作论坛，邀请中亚各国卫生部长参加，共同探讨疫苗生产、药品注册互认和远程医疗"
    "等议题。双方还签署了关于鼠疫和包虫病监测信息共享的备忘录。"
)


@pytest.mark.parametrize(
    ("original", "edited"),
    [
        (RU_A, RU_A.replace("двенадцати", "четырнадцати") + " Все права защищены."),
        (AZ_A, AZ_A.replace("sentyabrda", "oktyabrda").replace("on iki", "on dörd")),
        (ZH_A, ZH_A.replace("十二个", "十四个") + "本文版权归卫生部所有。"),
    ],
)
def test_multilingual_near_duplicates(original: str, edited: str) -> None:
    a, b = text_signature(original), text_signature(edited)
    assert is_near_duplicate(a, b)
    assert set(enumerate(signature_bands(a))) & set(enumerate(signature_bands(b)))


def test_multilingual_different_texts() -> None:
    sigs = [text_signature(t) for t in (RELEASE_A, RU_A, AZ_A, ZH_A, ZH_B)]
    for i in range(len(sigs)):
        for j in range(i + 1, len(sigs)):
            assert similarity(sigs[i], sigs[j]) < 0.2, (i, j)
    # translations of one release are different texts, and so are two Chinese articles
    assert not is_near_duplicate(sigs[3], sigs[4])


def test_tokens_split_scripts_without_spaces() -> None:
    assert tokens("世界卫生组织 WHO-2024, Səhiyyə!") == ["世", "界", "卫", "生", "组", "织",
                                                          "who", "2024", "səhiyyə"]
    assert tokens("ＡＢＣ ﬁx Straße") == ["abc", "fix", "strasse"]  # NFKC and case folding
    assert word_count("Hello, world!  It's 2024.") == 5
    assert word_count("卫生部 and WHO") == 5
    assert word_count("  \n ") == 0


def test_content_hash() -> None:
    base = content_hash(RELEASE_A)
    assert len(base) == 64 and int(base, 16) >= 0
    assert content_hash(_edits(RELEASE_A)["whitespace and case"]) == base
    assert content_hash(RELEASE_A.replace(".", " .").replace(",", "")) == base
    assert content_hash(RELEASE_A.replace("twelve", "fourteen")) != base
    assert content_hash("Səhiyyə  Nazirliyi") == content_hash("SƏHIYYƏ\tnazirliyi.")
    assert content_hash("卫生部 合作") == content_hash("卫生部合作")  # one token per character
    assert content_hash("Ministry of Health") == content_hash("ministry, of; health!")


# ---------------------------------------------------------------------------- signatures


def test_signature_shape_and_determinism() -> None:
    sig = text_signature(RELEASE_A)
    assert isinstance(sig, bytes) and len(sig) == NUM_PERM * 4 == 512
    assert text_signature(RELEASE_A) == sig
    assert similarity(sig, sig) == 1.0
    bands = signature_bands(sig)
    assert len(bands) == BANDS == 21 and ROWS * BANDS <= NUM_PERM
    assert all(-(2**63) <= v < 2**63 for v in bands)
    assert any(v < 0 for v in bands + signature_bands(text_signature(RELEASE_B)))
    empty = text_signature("")
    assert similarity(empty, text_signature("  ...  ")) == 1.0
    assert similarity(empty, sig) == 0.0


def test_signature_is_stable_across_processes() -> None:
    code = (
        "from monitor.dedupe import text_signature, signature_bands;"
        "print(signature_bands(text_signature('Ministry of Health signs agreement with WHO')))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""}, cwd=Path(__file__).resolve().parents[1],
        ).stdout
        for seed in ("1", "2")
    }
    here = str(signature_bands(text_signature("Ministry of Health signs agreement with WHO")))
    assert outputs == {here + "\n"}


def test_band_guarantee_at_default_threshold() -> None:
    """109 of 128 equal hashes (0.8516) always leaves a whole band equal."""
    rng = np.random.default_rng(7)
    base = np.frombuffer(text_signature(RELEASE_A), dtype="<u4")
    for _ in range(200):
        other = base.copy()
        changed = rng.choice(NUM_PERM, size=NUM_PERM - 109, replace=False)
        other[changed] ^= 1
        a, b = base.tobytes(), other.tobytes()
        assert is_near_duplicate(a, b)
        assert set(enumerate(signature_bands(a))) & set(enumerate(signature_bands(b)))


def test_similarity_rejects_malformed_signatures() -> None:
    with pytest.raises(ValueError, match="512 bytes"):
        similarity(b"\x00" * 10, text_signature("x"))
    with pytest.raises(ValueError, match="512 bytes"):
        signature_bands(b"")


def test_signature_estimates_jaccard() -> None:
    words = RELEASE_A.split()
    # replace every 10th word: the exact 3-shingle Jaccard is computed and compared
    edited = " ".join(w if i % 10 else f"x{i}" for i, w in enumerate(words))

    def shingles(text: str) -> set[tuple[str, ...]]:
        t = tokens(text)
        return {tuple(t[i : i + 3]) for i in range(len(t) - 2)}

    sa, sb = shingles(RELEASE_A), shingles(edited)
    exact = len(sa & sb) / len(sa | sb)
    estimate = similarity(text_signature(RELEASE_A), text_signature(edited))
    assert abs(estimate - exact) < 0.15  # about 4 standard errors
    assert not is_near_duplicate(text_signature(RELEASE_A), text_signature(edited))


