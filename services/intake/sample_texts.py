"""Text material for the sample 110 feed (services.intake.sample): templates, names, places, dispositions.

Templates are str.format patterns; each placeholder is filled per record (see sample._Fill), so one
template yields many different texts. Every dispute template reads as its own type under the
keyword rules alone (code None), so records without a code still exercise the classifier honestly.
"""

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
            "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉梅海波宇浩然晨欣怡子轩佳琪雪婷鹏飞俊文斌春"
# How a party is named in the free text: a CAD operator writes "王某", "李女士", rarely a full name.
PARTY_FORMS = ("{s}某", "{s}某某", "{s}女士", "{s}先生", "{s}某")
MOBILE_PREFIXES = ("13", "15", "18", "17", "19", "16", "14")

CITY_PLACES = ("湖光路", "滨河路", "东关大街", "西山镇", "南桥", "人民广场", "火车站", "体育馆", "中心医院",
               "长途汽车站", "步行街", "西山路", "望湖公园", "滨河公园", "新华书店")
COMPANIES = ("某建筑公司", "某物流公司", "某装饰公司", "某餐饮店", "某电子厂", "某保洁公司", "某家政公司")
SHOPS = ("某美容院", "某健身房", "某饭店", "某超市", "某手机店", "某培训机构", "某家具城", "某餐馆")
VILLAGES = ("前进村", "红旗村", "西山村", "河湾村", "柳树村", "新庄村", "李家庄村", "王家湾村", "杨树沟村", "大石村",
            "小河村", "东岗村", "桃园村", "枣林村", "马家坪村", "高桥村", "石板村", "南坡村", "五里铺村", "黄土岭村")
ROADS = ("湖光路", "望湖路", "东关街", "花园路", "西山路", "南桥路", "滨河路", "建设路", "幸福路", "朝阳路")
COMMUNITIES = ("幸福小区", "湖光苑", "望湖北里", "东关新村", "滨河花园", "南桥东里", "金色家园", "阳光家园",
               "和平里小区", "电力宿舍", "学府花园")
# The rest of a precise address after a road, as a CAD operator types it: house number, building (栋,
# or 号楼, which normalises to 栋), unit and room; a detached house has the number alone.
HOUSE_FORMS = ("{n}号{b}栋{f}0{r}室", "{n}号{b}栋{u}单元{f}0{r}室", "{n}号{b}栋{f}0{r}室", "{n}号院{b}号楼{u}单元{f}0{r}室",
               "{n}号{f}0{r}室", "{n}号{b}栋{u}单元{f}0{r}室", "{n}号")
# After an estate name: building and room, no street number.
ESTATE_FORMS = ("{b}栋{u}单元{f}0{r}室", "{b}号楼{f}0{r}室", "{b}栋{f}0{r}室")
# A village house: village, production group (组) and house number.
VILLAGE_FORMS = ("{village}{g}组{n}号", "{village}{g}组{n}号", "{village}{n}号")
# Coarse places: a caller who does not know or give the number. After a road or street prefix, or alone.
COARSE_AFTER_ROAD = ("", "", "与{road}交叉口", "附近", "公交站旁")
COARSE_AFTER_STREET = ("{road}", "{community}", "{community}附近", "{road}中段")
COARSE_IN_TOWNSHIP = ("{village}", "", "集市附近", "{village}村口")
COARSE_IN_COMMUNITY = ("", "附近", "门口")
# Places that match no address prefix in stations.yaml (and carry no station code or point): the
# unassigned queue. Some look close to real prefixes on purpose (北城区 without a known street).
# The roads get a house number in a precise address; the rest are coarse whatever the share.
UNMATCHED_ROADS = ("示例市东城区人民路", "示例市开发区创业大道", "示例市高新区科技园路", "示例县城关镇解放街",
                   "示例市北城区青年路", "南城区解放街道和平路", "示例市西城区和平里")
UNMATCHED = ("示例市东城区人民路", "示例市开发区创业大道", "示例市高新区科技园", "示例县城关镇解放街",
             "京港澳高速示例段K{k}+300处", "示例市北城区青年路", "南城区解放街道", "示例市郊区城乡结合部",
             "示例市西城区和平里")
# Beside a point: where the caller stands; None is a record with the point alone.
LANDMARKS = ("{place}附近", "{place}东侧", "{place}公交站旁", "{place}北门", None)

DISPUTES = {
    "neighbour": (
        "{a}报警称楼上住户深夜噪音扰民，上门沟通后双方发生争吵",
        "{a}称楼上卫生间漏水已持续{days}天，与楼上邻居协商赔偿未果",
        "{a}与隔壁邻居因楼道堆放杂物发生口角",
        "{a}反映对门邻居养狗，狗叫影响休息，双方发生争执",
        "{a}称邻居装修噪音太大，中午也不停工，双方发生推搡",
        "{place}附近广场舞音响声音过大，{a}与跳舞人员发生争执",
        "{a}与楼下邻居因空调外机噪声问题发生纠纷",
        "邻里纠纷：{a}与邻居{b}因漏水维修费用{amount}元协商不成",
        "{a}称邻居{b}在楼道内遛狗不牵绳，双方争吵",
    ),
    "family": (
        "{a}称与丈夫因家庭琐事发生争吵",
        "{a}报警称遭到丈夫家暴，要求民警到场处理",
        "夫妻二人因离婚财产分割发生纠纷，{a}情绪激动",
        "{a}与儿媳因照顾孩子问题发生婆媳矛盾",
        "{a}称子女不履行赡养义务，双方发生争执",
        "{a}与妻子因彩礼{amount}元问题发生争吵",
        "{a}称前夫{b}到家中纠缠，双方发生口角",
        "{a}称老公酒后摔东西，夫妻双方争吵",
    ),
    "labour": (
        "{a}等{k}名农民工称包工头{b}拖欠工资{amount}元，在工地讨薪",
        "{a}称被{company}辞退后公司拒付工资{amount}元",
        "{a}反映{company}拖欠加班费，与负责人发生争执",
        "{a}在{company}上班期间受工伤，与老板协商赔偿不成",
        "{a}讨要劳务费{amount}元未果，与包工头{b}发生冲突",
        "{a}称{company}未缴社保，与公司负责人发生争吵",
    ),
    "property_management": (
        "{a}因拒交物业费与物业人员发生争吵",
        "业主{a}称小区电梯长期故障，与物业发生纠纷",
        "{a}与物业因停车费和车位问题发生争执",
        "{a}称物业供暖不达标，要求退还供暖费{amount}元",
        "业主{a}与小区保安因门禁问题发生推搡",
    ),
    "consumer": (
        "{a}在{shop}消费后要求退款{amount}元，商家拒绝",
        "{a}称在{shop}办卡充值{amount}元后商家跑路，要求退费",
        "{a}网购商品存在质量问题，与店主协商退货未果",
        "{a}与出租车司机因车费发生争执",
        "{a}在{shop}就餐后认为被宰客，与店家发生争吵",
        "顾客{a}称在{shop}买到假货，要求商家赔偿",
    ),
    "land": (
        "{a}与{b}因宅基地界址问题发生纠纷",
        "{a}称{b}建房占用其承包地，双方发生争执",
        "{village}村民{a}与{b}因田埂地界发生冲突",
        "{a}反映{b}毁坏其田地青苗，协商赔偿未果",
        "{village}村民{a}与村委会因征地补偿款{amount}元发生纠纷",
    ),
    "traffic_damage": (
        "{a}驾车与{b}的车辆发生剐蹭，双方因修车费发生争执",
        "{a}称倒车时与{b}车辆擦碰，双方对定损金额{amount}元有分歧",
        "{place}附近两车追尾，无人受伤，双方协商赔偿不成",
        "电动车与轿车发生刮蹭，{a}要求对方赔偿{amount}元",
    ),
    "debt": (
        "{a}称{b}借款{amount}元到期未还，上门讨债发生争吵",
        "{a}向{b}催要欠款{amount}元，双方发生推搡",
        "{a}称{company}拖欠货款{amount}元，与对方发生纠纷",
        "{a}持欠条找{b}要账，双方发生口角",
    ),
    "other": (
        "{a}与房东因押金退还问题发生纠纷",
        "租客{b}拖欠房租{amount}元，房东{a}上门索要发生争吵",
        "{a}与{b}因琐事发生口角",
        "{a}与{b}在{place}因排队问题发生争执",
    ),
}
# Appended to some disputes: the words that raise a risk flag (weapon, threat, self-harm, domestic violence).
RISKS = ("，一方手持菜刀", "，{b}扬言要报复", "，对方持木棍威胁", "，{a}情绪激动扬言要跳楼", "，当事人称不想活了",
         "，{b}扬言要弄死对方")
FAMILY_RISKS = ("，{a}称长期遭受家暴", "，{a}称被老公打伤")

OTHER_KINDS = {
    "crime": (
        "{a}报警称家中被盗，损失现金{amount}元",
        "{a}称停在{place}的电动车被盗",
        "{a}称接到冒充客服的电话，被骗{amount}元",
        "{a}报警称在{place}被人抢夺手机",
        "{place}附近有人撬门入室，{a}报警",
        "{a}称遭人敲诈勒索{amount}元",
        "{a}在{place}被人持刀砍伤，嫌疑人已逃离",
    ),
    "help": (
        "{a}报警称其{age}岁的父亲走失，至今联系不上",
        "{a}称孩子在{place}与家人走散",
        "{a}被困电梯内请求救助",
        "{a}钥匙遗失，请求开锁",
        "{a}在{place}发现一名老人迷路，找不到家",
        "{place}有人醉酒倒地，路人求助",
        "{a}称家人站在楼顶扬言要跳楼，请求救助",
    ),
    "traffic": (
        "{place}路口发生交通事故，一人受伤",
        "{place}附近交通拥堵，请求疏导",
        "{a}称车辆被违停车辆挡住，请求挪车",
        "{place}发生车祸，肇事车辆逃逸",
        "{place}路口信号灯故障",
    ),
    "other": (
        "{a}称{place}附近有可疑人员徘徊",
        "无声电话，回拨无人接听",
        "{a}咨询户籍办理相关事宜",
        "{place}井盖缺失，存在安全隐患",
        "{a}反映{place}路灯不亮",
        "误拨110，经核实无警情",
    ),
}

# Civil-to-criminal chains (民转刑): a dispute between {a} (the caller) and {b}, then, weeks later, an
# intentional injury between the same two, reported by the same caller from the same address. The
# crime texts name the injury (故意伤害, 砍伤, 捅伤, 打伤) so that the offence is unmistakable.
CHAIN_DISPUTES = {
    "neighbour": (
        "{a}与楼上邻居{b}因卫生间漏水问题多次协商未果，双方发生争吵",
        "{a}称邻居{b}长期在楼道堆放杂物，双方发生口角并推搡",
        "{a}与隔壁邻居{b}因深夜噪音问题发生纠纷，{b}扬言要给其好看",
        "{a}与邻居{b}因院墙界址发生争执，双方互不相让",
    ),
    "family": (
        "{a}称与丈夫{b}因家庭琐事发生争吵，{b}摔砸家中物品",
        "{a}与丈夫{b}因离婚财产分割发生纠纷，双方情绪激动",
        "{a}称丈夫{b}酗酒后与其争吵，要求民警到场",
    ),
}
CHAIN_CRIMES = {
    "neighbour": (
        "{a}报警称与邻居{b}因邻里纠纷再次发生冲突，{b}持刀将其砍伤，涉嫌故意伤害",
        "双方因邻里纠纷再次发生冲突，{b}持刀将{a}砍伤，{a}已送医",
        "{a}称邻居{b}因漏水纠纷上门滋事，用铁棍将其打伤，涉嫌故意伤害",
        "{a}与邻居{b}因旧怨再次争执，{b}持水果刀将其捅伤，涉嫌故意伤害",
    ),
    "family": (
        "{a}报警称丈夫{b}酒后再次与其发生冲突，持刀将其捅伤，涉嫌故意伤害",
        "{a}与丈夫{b}因家庭纠纷再次争吵，{b}将{a}打伤致骨折，涉嫌故意伤害",
        "{a}称丈夫{b}因离婚纠纷持菜刀将其砍伤，涉嫌故意伤害",
    ),
}

# The centre's own Chinese label next to its code.
CATEGORY_TEXT = {"dispute": "纠纷", "crime": "刑事案件", "help": "群众求助", "traffic": "交通警情", "other": "其他",
                 "dispute.neighbour": "邻里纠纷", "dispute.family": "婚姻家庭纠纷", "dispute.labour": "劳资纠纷",
                 "dispute.property_management": "物业纠纷", "dispute.consumer": "消费纠纷",
                 "dispute.land": "土地纠纷", "dispute.traffic_damage": "交通损害赔偿纠纷",
                 "dispute.debt": "债务纠纷", "dispute.other": "其他纠纷"}

DISPOSITIONS = {
    "dispute": ("已调解", "现场调解，双方达成和解", "已调解，双方签订调解协议", "移交人民调解委员会",
                "告知双方通过诉讼途径解决", "移交司法所", "已移交法院诉前调解", "现场劝解，双方情绪平稳"),
    "crime": ("已受理，立为刑事案件", "已移交刑侦大队", "已处理", "已受理，正在调查"),
    "help": ("已找到，交由家属带回", "已协助处理", "已送医", "已处理"),
    "traffic": ("已移交交警", "已处理", "已疏导", "已移交交警，伤者已送医"),
    "other": ("已处理", "经核实为误报", "已告知", "已处理，无警情"),
}
# Revision 2 reports what happened after the first close: an agreement kept, a case handed on.
REVISED = {
    "dispute": ("回访：双方已履行调解协议", "调解成功，已结案", "复核后移交法院诉前调解", "调解不成，移交司法所",
                "已申请司法确认"),
    "crime": ("补充：已移交刑侦部门", "已结案"),
    "help": ("补充：当事人已安全返家", "已结案"),
    "traffic": ("补充：已移交交警事故科", "已结案"),
    "other": ("已结案", "补充：经回访无异常"),
}

# Lines a real feed has delivered instead of a record: proxy error pages, mojibake, stray logs.
# All are valid UTF-8 text without line separators, so they stay one line each.
GARBAGE = ("<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
           "锟斤拷锟斤拷烫烫烫屯屯屯",
           "\ufeff鏂囦欢涓嶅瓨鍦\u200b\u200b�\ufffd",
           "\x1b[31mERROR\x1b[0m CAD export: connection reset by peer",
           "source=SAMPLE-CAD&incident_number=110-20240501-000001&revision=1",
           "ÿþ{ \"source\": \"SAMPLE-CAD\" ",
           "\u3000\u3000（此处为空记录）\u3000")
